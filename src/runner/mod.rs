//! Job lifecycle: look back over history, then (later) follow real time; checkpoints.
