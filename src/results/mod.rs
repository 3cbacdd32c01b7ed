//! Result documents shaped like Elastic ML's, with deterministic ids, and their writer.
