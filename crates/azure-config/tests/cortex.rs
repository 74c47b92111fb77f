//! The Cortex Cloud template (`azure_config::cortex`): the real configuration's shape per scope,
//! the twin's equivalence with it, the values' validation, and the twin applied with the real
//! `terraform` binary, its callback answered by a local HTTP server that records the `PUT`.
//! (`prisma-emulator`'s tests apply it against the emulator itself.)
//!
//! Without `terraform` (or `curl`) on PATH the apply tests print `SKIPPED: ...` and pass.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use azure_config::cortex::{
    self, BundleValues, CortexCapabilities, CortexScope, CortexTemplate, DeploymentValues, OUTPUTS,
    UPLOAD_URL_VAR,
};
use azure_config::expr;
use azure_config::twin::twin_address;
use common::keys;
use prisma_types::{ManagementGroupId, ObjectId, SubscriptionId, TenantId};
use serde_json::Value;

const TENANT: &str = "11111111-2222-4333-8444-555555555555";
const SUBSCRIPTION: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";
const CLIENT: &str = "0a1b2c3d-0000-4000-8000-00000000c0de";
const SP: &str = "5e5e5e5e-1111-4222-8333-444444444444";
const TEMPLATE_ID: &str = "e22b3a29260c404183d1a0ea6cbd4418";
const CONNECTOR_ID: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";
const SUFFIX: &str = "cc-t3nant-x7k2p";
/// The signed part of the upload URL: must appear in no file, stream or argument.
const SIGNATURE: &str = "Sig-canary-8d1f77a0b2";

fn template(scope: CortexScope, audit_logs: bool) -> CortexTemplate {
    CortexTemplate {
        scope,
        capabilities: CortexCapabilities::ALL,
        audit_logs,
        cloud_environment: cortex::CloudEnvironment::Public,
    }
}

fn bundle(url: &str) -> BundleValues {
    BundleValues {
        template_id: TEMPLATE_ID.into(),
        connector_id: CONNECTOR_ID.into(),
        tenant_id: TenantId::parse(TENANT).unwrap(),
        outpost_client_id: ObjectId::parse(CLIENT).unwrap(),
        customer_object_id: ObjectId::parse(SP).unwrap(),
        resource_suffix: SUFFIX.into(),
        template_version: BTreeMap::from([("BASE-tf_org_base".into(), "1.0.0".into())]),
        tags: BTreeMap::from([("team".into(), "cloud".into())]),
        upload_output_url: url.into(),
    }
}

fn deployment(scope: CortexScope) -> DeploymentValues {
    DeploymentValues {
        subscription_id: SubscriptionId::parse(SUBSCRIPTION).unwrap(),
        management_group_id: (scope == CortexScope::ManagementGroup)
            .then(|| ManagementGroupId::parse("mg-prod").unwrap()),
        resource_group_location: "westeurope".into(),
    }
}

fn addresses(scope: CortexScope, audit_logs: bool) -> BTreeSet<String> {
    let mut a: BTreeSet<String> = [
        "azurerm_resource_group.cortex_onboarding",
        "azurerm_role_definition.cortex_reader",
        "azurerm_role_definition.cortex_actions",
        "azurerm_role_assignment.cortex_reader",
        "azurerm_role_assignment.cortex_actions",
        "terracurl_request.create_connector_notification",
    ]
    .map(String::from)
    .into();
    a.insert("azuread_app_role_assignment.graph[\"Application.Read.All\"]".into());
    if scope == CortexScope::Tenant {
        a.insert("azuread_app_role_assignment.graph[\"Directory.Read.All\"]".into());
    }
    if scope != CortexScope::Subscription {
        for r in [
            "azurerm_role_definition.cortex_mi_role",
            "azurerm_user_assigned_identity.cortex_mi",
            "azurerm_role_assignment.cortex_mi",
            "azurerm_policy_definition.cortex_policy",
            "azurerm_management_group_policy_assignment.cortex_policy",
            "azurerm_role_definition.cortex_policy_role",
            "azurerm_role_assignment.cortex_policy",
            "azurerm_management_group_policy_remediation.cortex_policy",
        ] {
            a.insert(r.into());
        }
    }
    if audit_logs {
        for r in [
            "azurerm_eventhub_namespace.audit_logs",
            "azurerm_eventhub.audit_logs",
            "azurerm_role_assignment.audit_logs_receiver",
        ] {
            a.insert(r.into());
        }
        match scope {
            CortexScope::Tenant => {
                a.insert("azurerm_monitor_aad_diagnostic_setting.entra_id".into())
            }
            CortexScope::Subscription => {
                a.insert("azurerm_monitor_diagnostic_setting.activity_log".into())
            }
            CortexScope::ManagementGroup => false,
        };
    }
    a
}

fn every_option() -> Vec<(CortexScope, bool)> {
    CortexScope::ALL
        .into_iter()
        .flat_map(|s| [(s, false), (s, true)])
        .collect()
}

#[test]
fn real_configuration_has_the_resources_variables_and_outputs_of_each_scope() {
    for (scope, audit) in every_option() {
        let config = cortex::builtin::generate(&template(scope, audit));
        let main = &config.main_tf_json;
        let got: BTreeSet<String> = config
            .resources
            .iter()
            .map(|r| r.address.clone())
            .filter(|a| {
                !a.starts_with("azuread_app_role_assignment")
                    || a.contains("Application.Read.All")
                    || a.contains("Directory.Read.All")
            })
            .collect();
        assert_eq!(got, addresses(scope, audit), "{scope:?} audit={audit}");
        let graph = config
            .resources
            .iter()
            .filter(|r| r.resource_type == "azuread_app_role_assignment")
            .count();
        assert_eq!(graph, if scope == CortexScope::Tenant { 8 } else { 1 });

        // Real providers, pinned like Cortex's bundle.
        let providers = &main["terraform"]["required_providers"];
        assert_eq!(providers["azurerm"]["source"], "hashicorp/azurerm");
        assert_eq!(providers["azuread"]["source"], "hashicorp/azuread");
        assert_eq!(providers["terracurl"]["source"], "devops-rob/terracurl");

        // §7's variables; the management group only at that scope.
        let mut want: BTreeSet<&str> = [
            "template_version",
            "connector_id",
            "template_id",
            "tenant_id",
            "subscription_id",
            "resource_group_location",
            "cloud_environment",
            UPLOAD_URL_VAR,
            "outpost_client_id",
            "customer_object_id",
            "tags",
            "resource_suffix",
            "graph_app_roles",
            "custom_actions",
        ]
        .into();
        if scope == CortexScope::ManagementGroup {
            want.insert("management_group_id");
        }
        if scope != CortexScope::Subscription {
            want.insert("policy_template");
        }
        assert_eq!(keys(&main["variable"]), want, "{scope:?}");
        assert_eq!(main["variable"][UPLOAD_URL_VAR]["sensitive"], true);
        assert_eq!(keys(&main["output"]), OUTPUTS.into_iter().collect());

        // Every var./local./data. reference is declared.
        for s in expr::all_strings(main) {
            for parts in expr::references(s) {
                let declared = match parts[0].as_str() {
                    "var" => main["variable"].get(&parts[1]).is_some(),
                    "local" => main["locals"].get(&parts[1]).is_some(),
                    "data" => main["data"][&parts[1]].get(&parts[2]).is_some(),
                    _ => true,
                };
                assert!(declared, "{scope:?}: undeclared {parts:?} in {s}");
            }
        }

        // The callback: PUT of the §7.4 body, after every other resource.
        let callback = &main["resource"]["terracurl_request"]["create_connector_notification"];
        assert_eq!(callback["method"], "PUT");
        assert_eq!(callback["url"], "${var.upload_output_url}");
        assert_eq!(
            callback["response_codes"],
            serde_json::json!(["200", "202"])
        );
        assert_eq!(callback["timeout"], 30);
        assert_eq!(callback["max_retry"], 3);
        let cb = config.resource(cortex::CALLBACK_ADDRESS).expect("callback");
        let others: BTreeSet<String> = config
            .resources
            .iter()
            .filter(|r| r.address != cortex::CALLBACK_ADDRESS)
            .map(|r| r.config_address())
            .collect();
        assert_eq!(
            cb.depends_on.iter().cloned().collect::<BTreeSet<_>>(),
            others
        );
        let n = &main["locals"]["notification"];
        assert_eq!(n["operation"], "create_connector");
        assert_eq!(n["provisioning_method"], "TF");
        assert_eq!(
            keys(n),
            [
                "operation",
                "template_id",
                "template_version",
                "connector_id",
                "provisioning_method",
                "account_id",
                "account_name",
                "account_group",
                "organization_id",
                "credentials",
                "resources_data"
            ]
            .into()
        );
        assert_eq!(
            main["locals"]["management_group_id"],
            match scope {
                CortexScope::Tenant => "${var.tenant_id}",
                CortexScope::ManagementGroup => "${var.management_group_id}",
                CortexScope::Subscription => "",
            }
        );
    }
}

#[test]
fn role_scope_and_policy_follow_the_scope() {
    let mg = cortex::builtin::generate(&template(CortexScope::ManagementGroup, false));
    assert_eq!(
        mg.main_tf_json["locals"]["role_scope"],
        "/providers/Microsoft.Management/managementGroups/${local.management_group_id}"
    );
    let assignment =
        &mg.main_tf_json["resource"]["azurerm_management_group_policy_assignment"]["cortex_policy"];
    assert_eq!(assignment["identity"]["type"], "UserAssigned");
    assert_eq!(
        assignment["identity"]["identity_ids"],
        serde_json::json!(["${azurerm_user_assigned_identity.cortex_mi.id}"])
    );
    let sub = cortex::builtin::generate(&template(CortexScope::Subscription, false));
    assert_eq!(
        sub.main_tf_json["locals"]["role_scope"],
        "/subscriptions/${var.subscription_id}"
    );
    assert!(
        sub.main_tf_json["resource"]
            .get("azurerm_policy_definition")
            .is_none()
    );
    // Capabilities change only the actions list, never the resource graph.
    let none = CortexTemplate {
        capabilities: CortexCapabilities::default(),
        ..template(CortexScope::Subscription, false)
    };
    let few = cortex::builtin::generate(&none);
    let few_actions = few.main_tf_json["variable"]["custom_actions"]["default"]
        .as_array()
        .unwrap()
        .len();
    let all_actions = sub.main_tf_json["variable"]["custom_actions"]["default"]
        .as_array()
        .unwrap()
        .len();
    assert!(few_actions < all_actions, "{few_actions} < {all_actions}");
    assert_eq!(few.resources, sub.resources);
}

#[test]
fn twin_has_the_same_addresses_dependencies_variables_and_outputs() {
    for (scope, audit) in every_option() {
        let t = template(scope, audit);
        let real = cortex::builtin::generate(&t);
        let twin = cortex::twin::generate(&t, 0.0).unwrap();
        assert_eq!(real.resources.len(), twin.resources.len());
        for (r, w) in real.resources.iter().zip(&twin.resources) {
            assert_eq!(twin_address(&r.address), w.address, "{scope:?}");
            let deps: Vec<String> = r.depends_on.iter().map(|d| twin_address(d)).collect();
            assert_eq!(deps, w.depends_on, "{}", r.address);
        }
        assert_eq!(real.main_tf_json["variable"], twin.main_tf_json["variable"]);
        assert_eq!(
            keys(&real.main_tf_json["output"]),
            keys(&twin.main_tf_json["output"])
        );
        assert!(twin.main_tf_json.get("provider").is_none());
        assert!(twin.main_tf_json.get("data").is_none());
        assert_eq!(
            keys(&twin.main_tf_json["resource"]),
            ["terraform_data"].into()
        );
    }
    assert!(cortex::twin::generate(&template(CortexScope::Tenant, false), -1.0).is_err());
}

#[test]
fn values_are_checked_naming_the_field() {
    let t = template(CortexScope::ManagementGroup, false);
    let good = bundle("https://upload.example/u?Signature=x");
    let tfvars = cortex::tfvars_json(&t, &good, &deployment(t.scope)).unwrap();
    assert_eq!(tfvars["management_group_id"], "mg-prod");
    assert_eq!(tfvars["tags"]["managed_by"], "paloaltonetworks");
    assert!(
        tfvars.get(UPLOAD_URL_VAR).is_none(),
        "the URL stays out of the tfvars file"
    );
    assert_eq!(
        cortex::secret_tfvars_json(&good).unwrap()[UPLOAD_URL_VAR],
        "https://upload.example/u?Signature=x"
    );
    let field =
        |b: BundleValues, d: DeploymentValues| cortex::tfvars_json(&t, &b, &d).unwrap_err().field;
    let d = deployment(t.scope);
    assert_eq!(
        field(
            BundleValues {
                template_id: "x".into(),
                ..good.clone()
            },
            d.clone()
        ),
        "template_id"
    );
    assert_eq!(
        field(
            BundleValues {
                connector_id: "A".repeat(32),
                ..good.clone()
            },
            d.clone()
        ),
        "connector_id"
    );
    assert_eq!(
        field(
            BundleValues {
                resource_suffix: "nodash".into(),
                ..good.clone()
            },
            d.clone()
        ),
        "resource_suffix"
    );
    assert_eq!(
        field(
            BundleValues {
                upload_output_url: "http://x/\"$(id)\"".into(),
                ..good.clone()
            },
            d.clone()
        ),
        UPLOAD_URL_VAR
    );
    assert_eq!(
        field(
            BundleValues {
                tags: BTreeMap::from([("a/b".into(), "v".into())]),
                ..good.clone()
            },
            d.clone()
        ),
        "tags"
    );
    assert_eq!(
        field(
            good.clone(),
            DeploymentValues {
                management_group_id: None,
                ..d.clone()
            }
        ),
        "management_group_id"
    );
    assert_eq!(
        field(
            good,
            DeploymentValues {
                resource_group_location: "West Europe".into(),
                ..d
            }
        ),
        "resource_group_location"
    );
}

// ---- the twin with the real terraform binary ----

fn tools_available() -> bool {
    for tool in ["terraform", "curl"] {
        if !Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            eprintln!("SKIPPED: {tool} not on PATH");
            return false;
        }
    }
    true
}

struct Received {
    method: String,
    path: String,
    content_type: String,
    body: Value,
}

/// A one-route HTTP server: records each request and answers `status`.
fn capture_server(status: u16) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_owned();
            let path = parts.next().unwrap_or_default().to_owned();
            let (mut length, mut content_type) = (0usize, String::new());
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (name, value) = h.split_once(':').unwrap_or((h, ""));
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "content-type" => content_type = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            sink.lock().unwrap().push(Received {
                method,
                path,
                content_type,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            );
        }
    });
    (
        format!("http://{addr}/upload/{CONNECTOR_ID}?Expires=9999999999&Signature={SIGNATURE}"),
        got,
    )
}

fn terraform(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_VAR_upload_output_url", url)
        .output()
        .expect("run terraform")
}

fn ok(dir: &Path, url: &str, args: &[&str]) -> String {
    let out = terraform(dir, url, args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "terraform {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        !stdout.contains(SIGNATURE) && !stderr.contains(SIGNATURE),
        "the upload URL leaked"
    );
    stdout
}

fn write_twin(dir: &Path, t: &CortexTemplate, url: &str) -> cortex::CortexConfig {
    let config = cortex::twin::generate(t, 0.0).unwrap();
    let tfvars = cortex::tfvars_json(t, &bundle(url), &deployment(t.scope)).unwrap();
    std::fs::write(
        dir.join(azure_config::MAIN_FILE),
        config.main_tf_json.to_string(),
    )
    .unwrap();
    std::fs::write(dir.join(azure_config::TFVARS_FILE), tfvars.to_string()).unwrap();
    config
}

#[test]
fn twin_applies_offline_and_calls_back_once_per_scope() {
    if !tools_available() {
        return;
    }
    for scope in CortexScope::ALL {
        let t = template(scope, scope != CortexScope::ManagementGroup);
        let (url, got) = capture_server(202);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let config = write_twin(d, &t, &url);
        ok(d, &url, &["init", "-input=false", "-no-color"]);
        ok(d, &url, &["plan", "-input=false", "-no-color", "-out=p"]);
        let stream = ok(d, &url, &["apply", "-input=false", "-json", "p"]);
        let completed: BTreeSet<String> = stream
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["type"] == "apply_complete")
            .filter_map(|m| m["hook"]["resource"]["addr"].as_str().map(str::to_owned))
            .collect();
        let planned: BTreeSet<String> =
            config.resources.iter().map(|r| r.address.clone()).collect();
        assert_eq!(completed, planned, "{scope:?}");

        {
            let got = got.lock().unwrap();
            assert_eq!(got.len(), 1, "{scope:?}: one callback");
            let r = &got[0];
            assert_eq!(r.method, "PUT");
            assert!(
                r.path.starts_with(&format!("/upload/{CONNECTOR_ID}?")),
                "{}",
                r.path
            );
            assert!(
                r.path.ends_with(SIGNATURE),
                "the query string reached the server"
            );
            assert_eq!(r.content_type, "application/json");
            let b = &r.body;
            assert_eq!(b["operation"], "create_connector");
            assert_eq!(b["template_id"], TEMPLATE_ID);
            assert_eq!(b["connector_id"], CONNECTOR_ID);
            assert_eq!(b["template_version"]["BASE-tf_org_base"], "1.0.0");
            assert_eq!(b["provisioning_method"], "TF");
            assert_eq!(b["account_id"], SUBSCRIPTION);
            assert_eq!(b["account_name"], "");
            assert_eq!(
                b["account_group"],
                match scope {
                    CortexScope::Tenant => TENANT,
                    CortexScope::ManagementGroup => "mg-prod",
                    CortexScope::Subscription => "",
                }
            );
            assert_eq!(b["organization_id"], TENANT);
            assert_eq!(
                b["credentials"],
                serde_json::json!({ "client_id": CLIENT, "tenant_id": TENANT })
            );
            let data = &b["resources_data"];
            assert_eq!(data["client_id"], CLIENT);
            assert_eq!(data["resource_group_location"], "westeurope");
            assert!(
                data["resource_group_name"]
                    .as_str()
                    .unwrap()
                    .starts_with("cortex-cc-t3nant-x7k2p-")
            );
            let policy = data["policy_assignment_id"].as_str().unwrap();
            if scope == CortexScope::Subscription {
                assert_eq!(policy, "");
            } else {
                assert!(
                    policy.contains("/providers/Microsoft.Authorization/policyAssignments/cortex-"),
                    "{policy}"
                );
            }
            assert_eq!(data.get("audit_logs_eventhub_name").is_some(), t.audit_logs);
        }

        let outputs: Value = serde_json::from_str(&ok(d, &url, &["output", "-json"])).unwrap();
        assert_eq!(keys(&outputs), OUTPUTS.into_iter().collect());
        assert_eq!(outputs["tenant_id"]["value"], TENANT);
        assert_eq!(outputs["connector_id"]["value"], CONNECTOR_ID);
        assert_eq!(outputs["client_id"]["value"], CLIENT);
        let ext = outputs["ext_resource_suffix"]["value"].as_str().unwrap();
        assert!(
            ext.starts_with("cc-t3nant-x7k2p-") && ext.len() == "cc-t3nant-x7k2p-".len() + 10,
            "{ext}"
        );

        // Converged: a second plan changes nothing, and nothing calls back again.
        let again = terraform(
            d,
            &url,
            &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
        );
        assert_eq!(
            again.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&again.stdout)
        );
        assert_eq!(got.lock().unwrap().len(), 1);
        for file in [
            "terraform.tfstate",
            azure_config::MAIN_FILE,
            azure_config::TFVARS_FILE,
        ] {
            let text = std::fs::read_to_string(d.join(file)).unwrap();
            assert!(!text.contains(SIGNATURE), "{file} holds the upload URL");
        }
    }
}

#[test]
fn twin_apply_fails_when_the_callback_is_refused() {
    if !tools_available() {
        return;
    }
    let t = template(CortexScope::Subscription, false);
    let (url, got) = capture_server(403);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_twin(d, &t, &url);
    ok(d, &url, &["init", "-input=false", "-no-color"]);
    let out = terraform(
        d,
        &url,
        &["apply", "-input=false", "-auto-approve", "-json"],
    );
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let errored: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["type"] == "apply_errored")
        .collect();
    assert_eq!(errored.len(), 1, "{stdout}");
    assert_eq!(
        errored[0]["hook"]["resource"]["addr"],
        "terraform_data.terracurl_request__create_connector_notification"
    );
    assert!(!stdout.contains(SIGNATURE));
    assert_eq!(got.lock().unwrap().len(), 1, "403 is not retried");
}
