// The live alarm feed (beside the wall): stored events as they happen, newest first.
import { api } from "./api.js";
import { el, fmtDuration, fmtTime } from "./dom.js";
import { onLang, t } from "./i18n.js";

function placeOf(windows, ev) {
  const w = windows.find((x) => x.id === ev.window);
  return w ? `${w.name} (${w.department})` : (ev.window || ev.camera);
}

function render(list, events, windows) {
  const items = [...events.values()].sort((a, b) => b.start - a.start || b.id - a.id);
  if (!items.length) {
    list.replaceChildren(el("li", { class: "closed" }, t("no_events")));
    return;
  }
  list.replaceChildren(...items.slice(0, 200).map((ev) => {
    const ended = ev.end !== null;
    const span = (ended ? ev.end : Date.now() / 1000) - ev.start;
    return el("li", { class: ended ? "closed" : "open", "data-event": ev.id },
      el("div", { class: "title" }, `${t(ev.type)} · ${placeOf(windows, ev)}`),
      el("div", { class: "when" },
        `${t("start")} ${fmtTime(ev.start)} · ${ended ? `${t("end")} ${fmtTime(ev.end)}` : t("ongoing")}`
        + ` · ${t("duration")} ${fmtDuration(span)}`));
  }));
}

/** Fill `aside` with the feed; returns a function that stops it. */
export async function mountAlarmFeed(aside, ctx) {
  const list = el("ol", { id: "events" });
  aside.append(el("h2", { "data-i18n": "events" }, t("events")), list);
  const events = new Map();
  const windows = await api("/api/windows");
  const recent = await api("/api/events", { query: { limit: 100 } });
  recent.items.forEach((ev) => events.set(ev.id, ev));
  const draw = () => render(list, events, windows);
  draw();
  const stops = [
    ctx.events.subscribe((ev) => { events.set(ev.id, ev); draw(); }),
    onLang(draw),
  ];
  const timer = setInterval(draw, 5000);
  return () => {
    clearInterval(timer);
    stops.forEach((stop) => stop());
  };
}
