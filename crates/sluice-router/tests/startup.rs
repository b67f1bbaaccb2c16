//! Start-up errors of `sluice route` are one clear line.

use clap::Parser;
use sluice_router::RouteArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    route: RouteArgs,
}

fn start_error(args: &[&str]) -> String {
    let cli = Cli::try_parse_from(std::iter::once("route").chain(args.iter().copied())).unwrap();
    let message = format!("{:#}", sluice_router::run(cli.route).unwrap_err());
    assert!(!message.contains('\n'), "{message}");
    message
}

#[test]
fn zero_upstreams() {
    assert_eq!(
        start_error(&[]),
        "no upstreams: pass --upstream URL (one or more) or --upstream-dns NAME:PORT"
    );
}

#[test]
fn bad_upstream_urls_name_the_url_and_the_reason() {
    let e = start_error(&[
        "--upstream",
        "http://127.0.0.1:8080",
        "--upstream",
        "localhost:8080",
    ]);
    assert!(e.starts_with("bad upstream \"localhost:8080\""), "{e}");
    let e = start_error(&["--upstream", "ftp://replica:21"]);
    assert!(
        e.contains("\"ftp://replica:21\"") && e.contains("not http"),
        "{e}"
    );
    let e = start_error(&["--upstream", "http://"]);
    assert!(e.starts_with("bad upstream \"http://\""), "{e}");
    let e = start_error(&["--upstream-dns", "replicas.svc"]);
    assert_eq!(e, "bad --upstream-dns \"replicas.svc\": expected NAME:PORT");
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let e = start_error(&[
        "--upstream",
        "http://127.0.0.1:1",
        "--hostname",
        "127.0.0.1",
        "--port",
        &port,
    ]);
    assert!(
        e.starts_with(&format!("cannot listen on 127.0.0.1:{port}")),
        "{e}"
    );
}

#[test]
fn unknown_policy_is_rejected_by_the_parser() {
    assert!(
        Cli::try_parse_from(["route", "--upstream", "http://a:1", "--policy", "random"]).is_err()
    );
}
