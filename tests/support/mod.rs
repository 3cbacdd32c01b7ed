//! Shared fixtures for the cluster integration tests: the real search engine and the
//! fault-injection proxy.

#![allow(dead_code)]

pub mod cases;
pub mod engine;
pub mod field_cases;
pub mod function_cases;
pub mod functions;
pub mod pipeline;
pub mod proxy;
