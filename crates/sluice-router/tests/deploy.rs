//! The Kubernetes manifests in deploy/ agree with each other and with the router: parsed and
//! checked field by field (ports, probe paths, selectors, the headless Service, upstream args).

use std::path::PathBuf;
use yaml_rust2::{Yaml, YamlLoader};

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn manifests() -> Vec<Yaml> {
    let mut docs = Vec::new();
    for file in ["replicas.yaml", "router.yaml"] {
        let path = deploy_dir().join("kubernetes").join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        docs.extend(YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}")));
    }
    docs
}

fn find<'a>(docs: &'a [Yaml], kind: &str, name: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn container(deployment: &Yaml) -> &Yaml {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

fn args(container: &Yaml) -> Vec<&str> {
    container["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

/// The value of `--flag=value` in `args`.
fn flag<'a>(args: &[&'a str], flag: &str) -> &'a str {
    let prefix = format!("--{flag}=");
    args.iter()
        .find_map(|a| a.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no --{flag}= in {args:?}"))
}

/// The containerPort named `name`.
fn port_named(container: &Yaml, name: &str) -> i64 {
    container["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["containerPort"].as_i64())
        .unwrap_or_else(|| panic!("no port {name}"))
}

/// Every label a selector asks for is on the pods.
fn selects(selector: &Yaml, pod_labels: &Yaml) -> bool {
    let selector = selector.as_hash().unwrap();
    !selector.is_empty()
        && selector
            .iter()
            .all(|(k, v)| &pod_labels[k.as_str().unwrap()] == v)
}

fn assert_probes_health(container: &Yaml, probe: &str) {
    let get = &container[probe]["httpGet"];
    assert_eq!(get["path"].as_str(), Some("/health"), "{probe}");
    assert_eq!(get["port"].as_str(), Some("http"), "{probe}");
}

#[test]
fn replicas_serve_on_their_port_with_health_probes_and_resources() {
    let docs = manifests();
    let replica = find(&docs, "Deployment", "sluice-replica");
    let c = container(replica);
    let a = args(c);
    assert_eq!(a[0], "serve");
    assert_eq!(
        flag(&a, "port").parse::<i64>().unwrap(),
        port_named(c, "http")
    );
    assert_eq!(flag(&a, "hostname"), "0.0.0.0");
    assert_probes_health(c, "readinessProbe");
    assert_probes_health(c, "livenessProbe");
    for resource in ["cpu", "memory"] {
        assert!(
            !c["resources"]["requests"][resource].is_badvalue(),
            "no {resource} request"
        );
    }
    let pod_labels = &replica["spec"]["template"]["metadata"]["labels"];
    assert!(selects(
        &replica["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
}

#[test]
fn both_replica_services_select_the_replica_pods_and_the_headless_one_has_no_ip() {
    let docs = manifests();
    let pods =
        &find(&docs, "Deployment", "sluice-replica")["spec"]["template"]["metadata"]["labels"];
    for name in ["sluice-replicas", "sluice-replicas-headless"] {
        let service = find(&docs, "Service", name);
        assert!(
            selects(&service["spec"]["selector"], pods),
            "{name} selects no replica"
        );
        assert_eq!(
            service["spec"]["ports"][0]["targetPort"].as_str(),
            Some("http")
        );
    }
    let headless = find(&docs, "Service", "sluice-replicas-headless");
    assert_eq!(headless["spec"]["clusterIP"].as_str(), Some("None"));
}

#[test]
fn the_router_discovers_replicas_through_the_headless_service() {
    let docs = manifests();
    let router = find(&docs, "Deployment", "sluice-router");
    let c = container(router);
    let a = args(c);
    assert_eq!(a[0], "route");
    let target: sluice_router::DnsTarget = flag(&a, "upstream-dns").parse().unwrap();
    let service = target.name.split('.').next().unwrap();
    let headless = find(&docs, "Service", service);
    assert_eq!(
        headless["spec"]["clusterIP"].as_str(),
        Some("None"),
        "{service} is not headless"
    );
    let replica = container(find(&docs, "Deployment", "sluice-replica"));
    assert_eq!(
        i64::from(target.port),
        headless["spec"]["ports"][0]["port"].as_i64().unwrap()
    );
    assert_eq!(i64::from(target.port), port_named(replica, "http"));
    assert_eq!(
        flag(&a, "port").parse::<i64>().unwrap(),
        port_named(c, "http")
    );
    assert_probes_health(c, "readinessProbe");

    let front = find(&docs, "Service", "sluice-router");
    let pods = &router["spec"]["template"]["metadata"]["labels"];
    assert!(selects(&front["spec"]["selector"], pods));
    assert!(!selects(
        &front["spec"]["selector"],
        &find(&docs, "Deployment", "sluice-replica")["spec"]["template"]["metadata"]["labels"]
    ));
}

#[test]
fn the_router_flags_in_the_manifest_parse() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        route: sluice_router::RouteArgs,
    }
    let docs = manifests();
    let a = args(container(find(&docs, "Deployment", "sluice-router")));
    let cli = Cli::try_parse_from(std::iter::once("sluice-route").chain(a[1..].iter().copied()))
        .unwrap_or_else(|e| panic!("{e}"));
    cli.route.to_config().unwrap();
}

#[test]
fn the_container_build_makes_the_sluice_binary_its_entrypoint() {
    let text = std::fs::read_to_string(deploy_dir().join("Containerfile")).unwrap();
    assert!(text.contains("cargo build --release -p sluice-cli"));
    assert!(text.contains(r#"ENTRYPOINT ["sluice"]"#));
}
