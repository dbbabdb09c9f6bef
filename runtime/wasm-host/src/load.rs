//! Loads a `.wasm` file as a component of one world (`transform`, `source`,
//! `sink`), or refuses it with a [`LoadError`] saying why.
//!
//! Checks, in order: the file is readable; it is a component, not a core
//! module or garbage (by its header, then by compiling it); every
//! `sluice:*` interface it imports is from `sluice:pipeline@0.1.0`; it
//! exports the world's functions (`init`/`process`, `open`/`poll`/`commit`,
//! `open`/`write`/`flush`) with the contract's signatures; its imports are
//! all provided by the host. The result holds the linked, typed instance
//! template, so creating an instance later does no import resolution.
//! Components are cached by the digest of their bytes and the world: the
//! same file loaded for several stages is compiled and linked once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::types::ComponentItem;

use crate::bindings::sink::SinkPre;
use crate::bindings::source::SourcePre;
use crate::bindings::transform::TransformPre;
use crate::engine::{digest, Ticker, WasmEngine};
use crate::error::LoadError;
use crate::host::HostState;

/// The contract's package name and version, as they appear in import names
/// (`sluice:pipeline/log@0.1.0`).
const PACKAGE: &str = "sluice:pipeline";
const VERSION: &str = "0.1.0";
/// The contract's three worlds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    Transform,
    Source,
    Sink,
}

impl World {
    pub const ALL: [World; 3] = [World::Transform, World::Source, World::Sink];

    pub fn name(self) -> &'static str {
        match self {
            World::Transform => "transform",
            World::Source => "source",
            World::Sink => "sink",
        }
    }

    /// The functions a component of this world exports.
    pub fn exports(self) -> &'static [&'static str] {
        match self {
            World::Transform => &["init", "process"],
            World::Source => &["open", "poll", "commit"],
            World::Sink => &["open", "write", "flush"],
        }
    }

    /// The worlds whose every export is among `exports`.
    pub(crate) fn exported_by(exports: &[&str]) -> Vec<World> {
        World::ALL
            .into_iter()
            .filter(|world| world.exports().iter().all(|f| exports.contains(f)))
            .collect()
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The typed instance template of a component, by its world.
pub(crate) enum Pre {
    Transform(TransformPre<HostState>),
    Source(SourcePre<HostState>),
    Sink(SinkPre<HostState>),
}

/// A compiled, linked component of one world, ready to instantiate.
pub struct GuestComponent {
    /// The file's stem (`mask` for `mask.wasm`); names the component in errors.
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) digest: String,
    pub(crate) pre: Pre,
    /// Keeps the epoch advancing while this component can run.
    pub(crate) ticker: Arc<Ticker>,
}

/// A component of the `transform` world.
pub type TransformComponent = GuestComponent;

impl std::fmt::Debug for GuestComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestComponent")
            .field("name", &self.name)
            .field("world", &self.world())
            .field("path", &self.path)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl GuestComponent {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hex SHA-256 of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub fn world(&self) -> World {
        match self.pre {
            Pre::Transform(_) => World::Transform,
            Pre::Source(_) => World::Source,
            Pre::Sink(_) => World::Sink,
        }
    }

    pub(crate) fn engine(&self) -> &wasmtime::Engine {
        match &self.pre {
            Pre::Transform(pre) => pre.engine(),
            Pre::Source(pre) => pre.engine(),
            Pre::Sink(pre) => pre.engine(),
        }
    }
}

/// What a Wasm binary's 8-byte header says it is.
#[derive(Debug, PartialEq, Eq)]
enum Header {
    CoreModule,
    Component,
    Other,
}

fn header(bytes: &[u8]) -> Header {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Header::CoreModule,
        // A component's version field is followed by layer 1.
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Header::Component,
        _ => Header::Other,
    }
}

impl WasmEngine {
    /// Loads the `transform` component at `path`, or refuses it.
    ///
    /// Blocking: reads the file and, on a cache miss, compiles it (seconds
    /// for a large component). Call it from `spawn_blocking` in async code.
    pub fn load_transform(&self, path: impl AsRef<Path>) -> Result<Arc<GuestComponent>, LoadError> {
        self.load(path.as_ref(), World::Transform)
    }

    /// Loads the `source` component at `path`, or refuses it. Blocking.
    pub fn load_source(&self, path: impl AsRef<Path>) -> Result<Arc<GuestComponent>, LoadError> {
        self.load(path.as_ref(), World::Source)
    }

    /// Loads the `sink` component at `path`, or refuses it. Blocking.
    pub fn load_sink(&self, path: impl AsRef<Path>) -> Result<Arc<GuestComponent>, LoadError> {
        self.load(path.as_ref(), World::Sink)
    }

    /// Reads a component file and checks its header.
    pub(crate) fn read_component(&self, path: &Path) -> Result<Vec<u8>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        match header(&bytes) {
            Header::Component => {}
            Header::CoreModule => {
                return Err(LoadError::CoreModule {
                    path: path.to_owned(),
                })
            }
            Header::Other => {
                return Err(LoadError::NotComponent {
                    path: path.to_owned(),
                    reason:
                        "the file does not start with a Wasm component header (`\\0asm`, layer 1)"
                            .into(),
                })
            }
        }
        Ok(bytes)
    }

    fn load(&self, path: &Path, world: World) -> Result<Arc<GuestComponent>, LoadError> {
        let bytes = self.read_component(path)?;
        let digest = digest(&bytes);
        let key = (digest.clone(), world);
        if let Some(loaded) = self
            .loaded
            .lock()
            .expect("loaded-components lock")
            .get(&key)
        {
            return Ok(Arc::clone(loaded));
        }

        let component = self.compile(path, &bytes, &digest)?;
        check_contract(&self.engine, path, &component, world)?;
        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::Link {
                    path: path.to_owned(),
                    reason: format!("{e:#}"),
                })?;
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
            path: path.to_owned(),
            world: world.name(),
            reason: format!("{e:#}"),
        };
        let pre = match world {
            World::Transform => {
                Pre::Transform(TransformPre::new(instance_pre).map_err(wrong_world)?)
            }
            World::Source => Pre::Source(SourcePre::new(instance_pre).map_err(wrong_world)?),
            World::Sink => Pre::Sink(SinkPre::new(instance_pre).map_err(wrong_world)?),
        };
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let loaded = Arc::new(GuestComponent {
            name,
            path: path.to_owned(),
            digest: digest.clone(),
            pre,
            ticker: Arc::clone(&self.ticker),
        });
        tracing::info!(component = %loaded.name, %world, path = %path.display(), %digest, "component loaded");
        self.loaded
            .lock()
            .expect("loaded-components lock")
            .insert(key, Arc::clone(&loaded));
        Ok(loaded)
    }
}

/// Refuses a component built against another contract version, or one that
/// does not export `world`'s functions.
fn check_contract(
    engine: &wasmtime::Engine,
    path: &Path,
    component: &wasmtime::component::Component,
    world: World,
) -> Result<(), LoadError> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        let Some(rest) = name.strip_prefix("sluice:") else {
            continue;
        };
        // `sluice:pipeline/log@0.1.0` → package `pipeline`, version `0.1.0`.
        let package = rest.split(['/', '@']).next().unwrap_or_default();
        let version = name
            .rsplit_once('@')
            .map(|(_, v)| v)
            .unwrap_or("unversioned");
        if format!("sluice:{package}") != PACKAGE || version != VERSION {
            return Err(LoadError::ContractVersion {
                path: path.to_owned(),
                found: format!("sluice:{package}@{version}"),
            });
        }
    }
    let exports: Vec<&str> = ty
        .exports(engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
        .map(|(name, _)| name)
        .collect();
    let missing: Vec<&str> = world
        .exports()
        .iter()
        .copied()
        .filter(|wanted| !exports.contains(wanted))
        .collect();
    if !missing.is_empty() {
        let instead = match World::exported_by(&exports).first() {
            Some(other) => format!("; it is a `{other}` component"),
            None => String::new(),
        };
        return Err(LoadError::WrongWorld {
            path: path.to_owned(),
            world: world.name(),
            reason: format!(
                "it does not export {} (its exported functions: {}){instead}",
                missing.join(", "),
                if exports.is_empty() {
                    "none".into()
                } else {
                    exports.join(", ")
                },
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_tells_modules_components_and_garbage_apart() {
        assert_eq!(header(b"\0asm\x01\0\0\0rest"), Header::CoreModule);
        assert_eq!(header(b"\0asm\x0d\0\x01\0rest"), Header::Component);
        assert_eq!(header(b"\0asm"), Header::Other);
        assert_eq!(header(b"not wasm at all"), Header::Other);
    }
}
