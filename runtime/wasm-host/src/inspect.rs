//! What a component file is, without running it: the worlds it exports,
//! the contract version it was built against, and the grants its imports
//! need. Backs `sluice plugin inspect` and `sluice pipeline check`.
//!
//! Unlike loading, inspecting refuses only what cannot be read as a
//! component at all: a component of another contract version, or one
//! exporting no world, is described rather than refused, so the operator
//! sees what it is.

use std::path::{Path, PathBuf};

use wasmtime::component::types::ComponentItem;

use crate::engine::{digest, WasmEngine};
use crate::error::LoadError;
use crate::grants::Grant;
use crate::load::World;

/// A component's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    pub path: PathBuf,
    /// The hex SHA-256 of the file.
    pub digest: String,
    pub size_bytes: u64,
    /// The contract package and version its `sluice:*` imports name
    /// (`sluice:pipeline@0.1.0`); `None` when it imports none.
    pub contract: Option<String>,
    /// The worlds whose functions it exports.
    pub worlds: Vec<World>,
    /// Every exported function, by name.
    pub exports: Vec<String>,
    /// The grants its contract imports need, beyond `log`.
    pub grants: Vec<Grant>,
    /// Every imported interface, by full name (`wasi:cli/stderr@0.2.6`).
    pub imports: Vec<String>,
}

impl ComponentInfo {
    /// Whether a component of this contract version can run on this host.
    pub fn contract_matches(&self) -> bool {
        self.contract
            .as_deref()
            .is_none_or(|c| c == crate::CONTRACT)
    }
}

/// `sluice:pipeline/http@0.1.0` → (`sluice:pipeline`, `http`, `0.1.0`).
pub(crate) fn split_interface(name: &str) -> Option<(&str, &str, &str)> {
    let (package_and_interface, version) = name.rsplit_once('@').unwrap_or((name, ""));
    let (package, interface) = package_and_interface.split_once('/')?;
    Some((package, interface, version))
}

impl WasmEngine {
    /// Describes the component at `path`. Blocking (compiles on a cache
    /// miss).
    pub fn inspect(&self, path: impl AsRef<Path>) -> Result<ComponentInfo, LoadError> {
        let path = path.as_ref();
        let bytes = self.read_component(path)?;
        let digest = digest(&bytes);
        let component = self.compile(path, &bytes, &digest)?;
        let ty = component.component_type();
        let engine = &self.engine;

        let imports: Vec<String> = ty
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let mut contract = None;
        let mut grants = Vec::new();
        for name in &imports {
            let Some((package, interface, version)) = split_interface(name) else {
                continue;
            };
            if !package.starts_with("sluice:") {
                continue;
            }
            contract.get_or_insert_with(|| {
                if version.is_empty() {
                    package.to_owned()
                } else {
                    format!("{package}@{version}")
                }
            });
            if let Some(grant) = Grant::ALL.into_iter().find(|g| g.interface() == interface) {
                grants.push(grant);
            }
        }
        grants.sort();
        grants.dedup();

        let exports: Vec<String> = ty
            .exports(engine)
            .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
            .map(|(name, _)| name.to_owned())
            .collect();
        let export_names: Vec<&str> = exports.iter().map(String::as_str).collect();
        Ok(ComponentInfo {
            path: path.to_owned(),
            digest,
            size_bytes: bytes.len() as u64,
            contract,
            worlds: World::exported_by(&export_names),
            exports,
            grants,
            imports,
        })
    }
}
