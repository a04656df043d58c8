"""Relay settings (cameras.yaml `relay:`): stream push, GB/T 28181 cascade, HTTP upload.

Secrets (push URL credentials, the GB password, the upload key) are never shown: the console's
config answers replace them (console.admin.redacted_site) and logs use ingest.source.redact_url.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from hallwatch.config_base import Model

GB_ID_PATTERN = r"^[0-9]{20}$"
GbId = Annotated[
    str,
    Field(
        pattern=GB_ID_PATTERN,
        description="GB/T 28181 code: 20 digits (centre 8, trade 2, type 3, network 1, serial 6)",
    ),
]
StreamChoice = Literal["main", "sub"]


class PushTarget(Model):
    camera: str = Field(description="Id of the camera whose stream is pushed")
    url: str = Field(
        description="Upstream URL: rtsp://… (ANNOUNCE/RECORD) or rtmp://…; credentials in the"
        " URL are never shown in logs or API answers"
    )
    stream: StreamChoice = Field(default="main", description="Which stream of the camera: main/sub")
    rtsp_transport: Literal["tcp", "udp"] = Field(
        default="tcp", description="RTSP push only: interleaved TCP or UDP"
    )

    @field_validator("url")
    @classmethod
    def _push_scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in ("rtsp", "rtmp"):
            raise ValueError("a push URL starts with rtsp:// or rtmp://")
        return value


class GbChannel(Model):
    camera: str = Field(description="Id of the shared camera")
    channel_id: GbId = Field(description="The channel's 20-digit id at the upper platform")
    stream: StreamChoice = Field(
        default="main", description="Which stream is sent when the upper platform plays it"
    )


class Gb28181Settings(Model):
    server_id: GbId = Field(description="The upper platform's SIP server id (20 digits)")
    server_domain: str = Field(
        pattern=r"^[0-9]{10}$",
        description="The upper platform's SIP domain (usually the first 10 digits of its id)",
    )
    server_ip: str = Field(min_length=1, description="The upper platform's SIP address")
    server_port: int = Field(default=5060, ge=1, le=65535, description="Its SIP port")
    platform_id: GbId = Field(description="Our id as a lower platform (20 digits)")
    password: str = Field(min_length=1, description="Registration password (never shown)")
    local_ip: str = Field(
        default="127.0.0.1",
        description="Our address as the upper platform reaches it (Via, Contact and the media's"
        " source in SDP)",
    )
    local_port: int = Field(default=5060, ge=0, le=65535, description="Our SIP port (0: any)")
    transport: Literal["udp", "tcp"] = Field(default="udp", description="SIP transport")
    register_expires_s: int = Field(
        default=3600, ge=60, le=86400, description="Registration lifetime asked for (seconds)"
    )
    keepalive_interval_s: float = Field(
        default=60.0, gt=0, le=3600, description="Seconds between MESSAGE Keepalive"
    )
    keepalive_max_failures: int = Field(
        default=3, ge=1, le=20, description="Missed keepalive answers before offline + re-register"
    )
    charset: Literal["GB2312", "UTF-8"] = Field(
        default="GB2312", description="Charset of MANSCDP XML bodies"
    )
    catalog_page_size: int = Field(
        default=4, ge=1, le=50, description="Channels per Catalog response MESSAGE"
    )
    alarms: bool = Field(
        default=True, description="Forward vacancy, queue and intrusion alarms as MESSAGE Alarm"
    )
    channels: list[GbChannel] = Field(default=[], description="Cameras shared with the platform")


class UploadSettings(Model):
    url: str = Field(description="The provincial platform's JSON webhook (http:// or https://)")
    key: str = Field(
        min_length=1,
        description="Shared key: sent as a bearer token and used to sign each body (never shown)",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Seconds per request")
    batch_size: int = Field(default=50, ge=1, le=1000, description="Messages per request at most")
    retry_max_s: float = Field(
        default=300.0, ge=1, le=86400, description="Longest wait between retries (backoff cap)"
    )
    event_types: list[str] = Field(
        default=[],
        description="Event types uploaded (empty: all, including case cards case_warning,"
        " case_yellow, case_red)",
    )
    ca_file: str | None = Field(
        default=None,
        description="PEM file of the CA certificate(s) that sign the platform's certificate,"
        " for an https:// URL under a private CA (relative to the config file); null: the"
        " system's CAs",
    )

    @field_validator("url")
    @classmethod
    def _http_scheme(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("the upload URL starts with http:// or https://")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_for_https(cls, value: str | None, info: ValidationInfo) -> str | None:
        url = str(info.data.get("url", ""))  # absent when the URL itself was refused
        if value is not None and url and not url.lower().startswith("https://"):
            raise ValueError("ca_file is for an https:// URL; this one is plain http")
        return value


class RelaySettings(Model):
    push: list[PushTarget] = Field(default=[], description="Streams pushed upstream")
    gb28181: Gb28181Settings | None = Field(
        default=None, description="GB/T 28181 cascade to the upper platform (2016 edition)"
    )
    upload: UploadSettings | None = Field(
        default=None, description="Alarm and case-card upload to a provincial JSON webhook"
    )
