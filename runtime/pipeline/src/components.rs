//! Which `.wasm` file a `connector = "..."` or `plugin = "..."` names.
//!
//! A name containing `/` or ending in `.wasm` is a path, relative to the
//! pipeline file. Any other name is a bundled component in the components
//! directory: a source connector `NAME` is `NAME-source.wasm` or
//! `NAME.wasm` there, a sink `NAME-sink.wasm` or `NAME.wasm`, a plugin
//! `NAME.wasm`. `pipeline check` and the running engine both resolve
//! through here, so they can never disagree.

use std::path::{Path, PathBuf};

use sluice_wasm_host::World;

/// The component file `name` refers to, for a stage of `world` declared in
/// the pipeline file at `pipeline_file`; `Err` says what was looked for.
pub fn resolve(
    pipeline_file: &Path,
    components_dir: &Path,
    name: &str,
    world: World,
) -> Result<PathBuf, String> {
    if name.contains('/') || name.ends_with(".wasm") {
        let base = pipeline_file.parent().unwrap_or(Path::new("."));
        let path = base.join(name);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("no component file at {}", path.display()))
        };
    }
    let mut candidates = Vec::new();
    match world {
        World::Source => candidates.push(components_dir.join(format!("{name}-source.wasm"))),
        World::Sink => candidates.push(components_dir.join(format!("{name}-sink.wasm"))),
        World::Transform => {}
    }
    candidates.push(components_dir.join(format!("{name}.wasm")));
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "there is no bundled {} named `{name}` in {}",
            if world == World::Transform {
                "plugin"
            } else {
                "connector"
            },
            components_dir.display()
        )
    })
}
