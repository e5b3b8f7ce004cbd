//! One module per command.

pub(crate) mod dates;
pub(crate) mod demo;
pub(crate) mod erase;
pub(crate) mod generate;
pub(crate) mod inspect;
pub(crate) mod job;
pub(crate) mod maintain;
pub(crate) mod report;
