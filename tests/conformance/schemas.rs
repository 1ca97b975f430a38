//! The upstream schema data, installed by `scripts/conformance-schemas.sh` into the test
//! target directory on first use (PyPI `ocsf-json-schema`, npm `@elastic/ecs`), and loaded
//! once per test binary. A missing registry is a failed test, never a skipped one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

pub struct Schemas {
    dir: PathBuf,
    validators: Mutex<HashMap<String, &'static jsonschema::Validator>>,
    captions: HashMap<String, Value>,
    pub ecs_fields: serde_json::Map<String, Value>,
}

pub fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conformance");
        install(&dir);
        let read = |p: PathBuf| -> Value {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let captions = ["1.8.0", "1.1.0"]
            .iter()
            .map(|v| {
                (
                    v.to_string(),
                    read(dir.join("ocsf").join(v).join("captions.json")),
                )
            })
            .collect();
        let ecs = read(dir.join("ecs/ecs_flat.json"));
        assert_eq!(ecs["version"], "9.4.0", "the ECS field table is not 9.4.0");
        let ecs_fields = ecs["fields"]
            .as_object()
            .cloned()
            .expect("EcsFlat is an object");
        Schemas {
            dir,
            validators: Mutex::new(HashMap::new()),
            captions,
            ecs_fields,
        }
    })
}

fn install(dir: &Path) {
    // The script itself decides whether READY still names what it would make.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/conformance-schemas.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(dir)
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        status.success(),
        "{} failed ({status}): the conformance tests need python3 with venv, npm, and the \
         PyPI and npm registries",
        script.display()
    );
}

impl Schemas {
    /// The validator of an OCSF class at a version, with the profiles an event declares.
    pub fn ocsf_validator(
        &self,
        version: &str,
        profiles: &[&str],
        class: &str,
    ) -> &'static jsonschema::Validator {
        let suffix = if profiles.is_empty() {
            String::new()
        } else {
            format!(".{}", profiles.join("+"))
        };
        let path = self
            .dir
            .join("ocsf")
            .join(format!("{version}{suffix}"))
            .join(format!("{class}.schema.json"));
        let key = path.display().to_string();
        let mut cache = self.validators.lock().unwrap();
        if let Some(v) = cache.get(&key) {
            return v;
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (no schema generated for profiles {profiles:?})",
                path.display()
            )
        });
        let schema: Value = serde_json::from_slice(&bytes).unwrap();
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let leaked: &'static jsonschema::Validator = Box::leak(Box::new(validator));
        cache.insert(key, leaked);
        leaked
    }

    /// The captions of class `class_uid` at `version`.
    pub fn ocsf_captions(&self, version: &str, class_uid: u64) -> &Value {
        &self.captions[version][class_uid.to_string()]
    }
}
