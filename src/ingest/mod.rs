//! Access logs into the store: parse each line into an ECS-named document and bulk-load it.
