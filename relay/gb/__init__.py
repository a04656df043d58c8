"""GB/T 28181 (2016) cascade: we register with the upper platform as a lower platform."""
