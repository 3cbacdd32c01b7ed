//! `tidewatch demo`: a realistic, deterministic nginx access log with known incidents.
