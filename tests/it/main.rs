//! Integration tests: one binary (each extra binary links all of DataFusion again).

mod audiences;
mod azurite;
mod backfill;
mod cli;
mod cluster;
mod clv;
mod common;
mod datasets;
mod engine;
mod erasure;
mod experiments;
mod exports;
mod failures;
mod features;
mod hostile;
mod incremental;
mod k8s;
mod models;
mod monitoring;
mod privacy;
#[path = "../support/processes.rs"]
mod processes;
mod publish;
mod quality;
mod raw_ids;
mod recommend;
mod report;
mod reruns;
mod rotation;
mod s3;
mod schemas;
mod segments;
mod uplift;
