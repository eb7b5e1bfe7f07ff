//! An archive of recordings analysed by `batch`: each recording's run record (`DIR/<id>/run.json`:
//! inputs' sizes and hashes, settings, program version, backend, time; whether its outputs are current),
//! and the cohort over the archive (one row per recording and lesion, distributions, and the comparison
//! of two runs of the archive). Reads metrics through `report::summarize`; knows nothing of the CLI.

pub mod cohort;
pub mod record;
