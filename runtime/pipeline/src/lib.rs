//! Sluice's pipelines: the file schema ([`spec`]), loading with positions
//! ([`load`]), the checks `sluice pipeline check` runs ([`check`]), and the
//! engine that runs them ([`run`]).
//!
//! | module | one job |
//! |---|---|
//! | [`spec`] | the TOML schema: topics, sources, transforms, sinks, grants, limits |
//! | [`load`] | reads a file; syntax and schema errors at their line and column |
//! | [`check`] | what the schema alone cannot see: undeclared topics, missing or wrong components, missing grants, bad values |
//! | [`diagnostic`] | `FILE:LINE:COL: message` with a hint |
//! | [`env`] | `${env:NAME}` references, resolved without ever printing a value |
//! | [`components`] | which `.wasm` file a connector or plugin name means |
//! | [`plan`] | a checked file turned into what runs: components, configs, grants, limits |
//! | [`settings`] | the process's settings file (`[backbone]`) |
//! | [`run`] | the engine: stages as tasks against the backbone, status, hot reload |

pub mod check;
pub mod components;
pub mod diagnostic;
pub mod env;
pub mod load;
pub mod plan;
pub mod run;
pub mod settings;
pub mod spec;

pub use check::{check_files, CheckOptions};
pub use diagnostic::Diagnostic;
pub use load::{load, PipelineFile};

/// The candidate closest to `word` by edit distance, if close enough to be
/// a likely typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d > 0 && *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}
