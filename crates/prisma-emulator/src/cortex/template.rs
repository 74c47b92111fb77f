//! The Cortex Cloud face's authentication-template links and downloads.
//!
//! `create_instance_template` answers with `manual.TF` and `manual.ARM` links. The real service
//! hands out 7-day signed object-store URLs (§4.1, §9:
//! `…/azure/arm-<guid>-<epoch>.<ext>?Expires=<epoch+604800>&…&Signature=…`); clients take the
//! pending instance's tracking GUID from the file name (`arm-([a-f0-9]{32})-`,
//! `tf-([a-f0-9]{32})-`). The emulator serves those links itself, shaped the same way:
//!
//! ```text
//! {base}/_cortex/templates/tf-<guid>-<issued epoch>.tar.gz
//!     ?Expires=<issued + 604800>&Signature=<hex HMAC-SHA256(path, expires)>
//!     &response-content-disposition=attachment%3Bfilename%3Dtf-<guid>-<issued>.tar.gz
//! ```
//!
//! The signature key is the emulator's own ([`LinkSigner`], random per process unless given),
//! so links cannot be forged or extended. A link past `Expires` gets `400` with Google Cloud
//! Storage's `ExpiredToken` XML error; a wrong signature `403 SignatureDoesNotMatch`; a link
//! for an instance that is gone `404 NoSuchKey`.
//!
//! # The bundle
//!
//! A gzip-compressed tar archive (`.tar.gz`, the format of Cortex's Terraform bundles), the
//! same bytes on every download of one link (fixed modes, owners and times), answered with its
//! checksum in `x-goog-hash: md5=<base64>` and `ETag: "<hex md5>"`, as the object store does:
//!
//! * Terraform (`tf-…`): `main.tf.json` (the real module, [`azure_config::cortex::builtin`]),
//!   `terraform.tfvars.json` (the bundle's values, the signed `upload_output_url` included, as in
//!   Cortex's bundle), `twin/main.tf.json` (the offline twin the sandbox applies, whose callback
//!   really calls this emulator) and `README.md`.
//! * ARM (`arm-…`): `parameters.json` with the ARM bundle's parameter names (§7.2) and
//!   `README.md`. The emulator has no ARM deployment template: use the Terraform bundle.

use std::io::Write;
use std::time::Duration;

use azure_config::cortex::{self, BundleValues, CortexTemplate};
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use md5::Digest as _;
use serde_json::{Value, json};
use sha2::Sha256;

/// How long a template link is valid (§8.1: 7 days).
pub const LINK_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Path of the template objects.
pub const TEMPLATE_PATH_PREFIX: &str = "/_cortex/templates/";
/// The archive extension of both bundles.
pub const ARCHIVE_EXTENSION: &str = "tar.gz";

/// Signs and checks the emulator's links (template downloads and callback upload URLs).
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(..)")
    }
}

type HmacSha256 = hmac::Hmac<Sha256>;

impl LinkSigner {
    /// A signer with a fresh random key.
    pub fn random() -> Self {
        Self {
            key: rand::random(),
        }
    }

    /// A signer with a fixed key (tests, or links that must survive a restart).
    pub fn from_key(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The face's signer: derived from its API keys (HMAC-SHA256 under a fixed label), so an
    /// emulator restarted with the same keys — from its snapshot — still honours the template
    /// links and upload URLs it issued, and no signing key is ever written anywhere. Without a
    /// key (nothing can be created then) the key is random.
    pub fn for_keys(keys: &[super::config::CortexKey]) -> Self {
        if keys.is_empty() {
            return Self::random();
        }
        let mut mac = HmacSha256::new_from_slice(b"azure-cortex emulator: template link signer")
            .expect("any key length");
        for k in keys {
            mac.update(k.id.to_string().as_bytes());
            mac.update(&[0]);
            mac.update(k.key.expose().as_bytes());
            mac.update(&[0]);
        }
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, purpose: &str, message: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(message.as_bytes());
        mac
    }

    /// Lower-case hex HMAC-SHA256 of `path` and `expires`.
    pub fn sign(&self, path: &str, expires: i64) -> String {
        hex(&self
            .mac("link", &format!("{path}\n{expires}"))
            .finalize()
            .into_bytes())
    }

    /// Whether `signature` is [`LinkSigner::sign`] of `path` and `expires` (constant time).
    pub fn verify(&self, path: &str, expires: i64, signature: &str) -> bool {
        let Some(bytes) = unhex(signature) else {
            return false;
        };
        self.mac("link", &format!("{path}\n{expires}"))
            .verify_slice(&bytes)
            .is_ok()
    }

    /// 32 lower-case hex digits derived from `input` under this key: stable per emulator, so
    /// every download of one pending instance's bundle carries the same connector ID.
    pub fn derive_hex32(&self, purpose: &str, input: &str) -> String {
        let digest = self.mac(purpose, input).finalize().into_bytes();
        hex(&digest[..16])
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Which bundle a link downloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    /// `manual.TF`.
    Terraform,
    /// `manual.ARM`.
    Arm,
}

impl TemplateKind {
    fn prefix(self) -> &'static str {
        match self {
            TemplateKind::Terraform => "tf",
            TemplateKind::Arm => "arm",
        }
    }
}

/// `tf-<guid>-<issued>.tar.gz` / `arm-<guid>-<issued>.tar.gz`.
pub fn file_name(kind: TemplateKind, guid: &str, issued_at: i64) -> String {
    format!("{}-{guid}-{issued_at}.{ARCHIVE_EXTENSION}", kind.prefix())
}

/// The parts of a template file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateFile {
    pub kind: TemplateKind,
    /// The pending instance's tracking GUID (32 lower-case hex).
    pub guid: String,
    /// When the link was issued (epoch seconds).
    pub issued_at: i64,
}

/// Parses `tf-<32 hex>-<epoch>.tar.gz` / `arm-…`.
pub fn parse_file_name(name: &str) -> Option<TemplateFile> {
    let stem = name.strip_suffix(&format!(".{ARCHIVE_EXTENSION}"))?;
    let (kind, rest) = if let Some(rest) = stem.strip_prefix("tf-") {
        (TemplateKind::Terraform, rest)
    } else {
        (TemplateKind::Arm, stem.strip_prefix("arm-")?)
    };
    let (guid, issued) = rest.split_once('-')?;
    let hex32 = guid.len() == 32
        && guid
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex32 || issued.is_empty() || !issued.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(TemplateFile {
        kind,
        guid: guid.to_owned(),
        issued_at: issued.parse().ok()?,
    })
}

/// A signed link to a path of this emulator, valid for `validity` from `issued_at`.
pub fn signed_url(
    base_url: &str,
    path: &str,
    issued_at: i64,
    validity: Duration,
    signer: &LinkSigner,
) -> String {
    let expires = issued_at + validity.as_secs() as i64;
    let signature = signer.sign(path, expires);
    format!(
        "{}{path}?Expires={expires}&Signature={signature}",
        base_url.trim_end_matches('/')
    )
}

/// The `manual.TF` / `manual.ARM` link for a pending instance, valid `validity` (Cortex: 7
/// days, [`LINK_VALIDITY`]).
pub fn template_link(
    base_url: &str,
    kind: TemplateKind,
    guid: &str,
    issued_at: i64,
    validity: Duration,
    signer: &LinkSigner,
) -> String {
    let name = file_name(kind, guid, issued_at);
    let path = format!("{TEMPLATE_PATH_PREFIX}{name}");
    format!(
        "{}&response-content-disposition=attachment%3Bfilename%3D{name}",
        signed_url(base_url, &path, issued_at, validity, signer)
    )
}

/// Why a signed link is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// No `Expires`/`Signature`, or a malformed one.
    Malformed,
    /// The signature does not match the path and expiry.
    BadSignature,
    /// Past `Expires`.
    Expired,
    /// Signed, but the object (instance) does not exist (any more).
    NotFound,
}

impl LinkError {
    /// The HTTP status and Google Cloud Storage's XML error code for it.
    pub fn status_and_code(self) -> (u16, &'static str, &'static str) {
        match self {
            LinkError::Malformed => (
                400,
                "MissingSecurityHeader",
                "The signed URL is incomplete.",
            ),
            LinkError::BadSignature => (
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            ),
            LinkError::Expired => (400, "ExpiredToken", "The provided token has expired."),
            LinkError::NotFound => (404, "NoSuchKey", "The specified key does not exist."),
        }
    }

    /// The object store's XML error body.
    pub fn xml_body(self) -> String {
        let (_, code, message) = self.status_and_code();
        format!(
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        )
    }
}

/// Checks the `Expires` and `Signature` query parameters of a request to `path`.
pub fn check_signed(
    path: &str,
    query: Option<&str>,
    now_secs: i64,
    signer: &LinkSigner,
) -> Result<(), LinkError> {
    let mut expires = None;
    let mut signature = None;
    for pair in query.unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("Expires", v)) => expires = v.parse::<i64>().ok(),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return Err(LinkError::Malformed);
    };
    if !signer.verify(path, expires, signature) {
        return Err(LinkError::BadSignature);
    }
    if now_secs > expires {
        return Err(LinkError::Expired);
    }
    Ok(())
}

/// A built bundle and its checksums.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

impl Bundle {
    /// `md5=<base64>`, the `x-goog-hash` value.
    pub fn goog_hash(&self) -> String {
        let digest = md5::Md5::digest(&self.bytes);
        format!(
            "md5={}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    }

    /// The hex MD5, the object store's `ETag` (quoted in the header).
    pub fn etag(&self) -> String {
        hex(&md5::Md5::digest(&self.bytes))
    }
}

/// Builds the bundle of `kind` for a pending instance. `issued_at` dates every entry, so the
/// same link always yields the same bytes.
pub fn build_bundle(
    kind: TemplateKind,
    template: &CortexTemplate,
    values: &BundleValues,
    issued_at: i64,
) -> Result<Bundle, azure_config::ConfigError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let pretty = |v: &Value| {
        let mut s = serde_json::to_string_pretty(v).expect("JSON");
        s.push('\n');
        s.into_bytes()
    };
    match kind {
        TemplateKind::Terraform => {
            let mut vars = cortex::bundle_tfvars_json(template, values)?;
            let secret = cortex::secret_tfvars_json(values)?;
            vars.extend(secret.as_object().expect("object").clone());
            let real = cortex::builtin::generate(template);
            let twin = cortex::twin::generate(template, 0.2)?;
            files.push(("main.tf.json".into(), pretty(&real.main_tf_json)));
            files.push(("terraform.tfvars.json".into(), pretty(&Value::Object(vars))));
            files.push(("twin/main.tf.json".into(), pretty(&twin.main_tf_json)));
            files.push(("README.md".into(), terraform_readme(template).into_bytes()));
        }
        TemplateKind::Arm => {
            values.validate()?;
            let parameters = json!({
                "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
                "contentVersion": "1.0.0.0",
                "parameters": {
                    "resourceSuffix": { "value": values.resource_suffix },
                    "templateId": { "value": values.template_id },
                    "tenantId": { "value": values.tenant_id.as_str() },
                    "customerObjectId": { "value": values.customer_object_id.as_str() },
                    "outpostClientId": { "value": values.outpost_client_id.as_str() },
                    "uploadOutputUrl": { "value": values.upload_output_url },
                    "tags": { "value": values.effective_tags() },
                    "templateVersion": { "value": values.template_version },
                    "connectorId": { "value": values.connector_id },
                },
            });
            files.push(("parameters.json".into(), pretty(&parameters)));
            files.push((
                "README.md".into(),
                "Cortex Cloud emulator: ARM bundle parameters only. The emulator has no ARM \
                 deployment template; download the Terraform bundle (manual.TF) instead.\n"
                    .as_bytes()
                    .to_vec(),
            ));
        }
    }
    let mut archive = tar::Builder::new(Vec::new());
    archive.mode(tar::HeaderMode::Deterministic);
    for (path, data) in &files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(issued_at.max(0) as u64);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        archive
            .append_data(&mut header, path, data.as_slice())
            .expect("writing to memory");
    }
    let tar_bytes = archive.into_inner().expect("writing to memory");
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar_bytes).expect("writing to memory");
    Ok(Bundle {
        file_name: file_name(kind, &values.template_id, issued_at),
        bytes: gz.finish().expect("writing to memory"),
    })
}

fn terraform_readme(template: &CortexTemplate) -> String {
    let needs = match template.scope {
        cortex::CortexScope::ManagementGroup => {
            "subscription_id (hosting), management_group_id, resource_group_location"
        }
        _ => "subscription_id (hosting), resource_group_location",
    };
    format!(
        "# Cortex Cloud authentication template (emulator)\n\n\
         Scope: {scope}. Set {needs} in a `*.auto.tfvars.json` file, then\n\
         `terraform init && terraform apply`. The last resource calls Cortex back\n\
         (`PUT upload_output_url`), which creates the connected instance.\n\n\
         `twin/` is the same module made of `terraform_data` only: it runs without Azure and\n\
         still calls back. Copy `terraform.tfvars.json` beside it to run it.\n",
        scope = template.scope.api_name(),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use azure_config::cortex::{CloudEnvironment, CortexCapabilities, CortexScope};
    use prisma_types::{ObjectId, TenantId};

    use super::*;

    const GUID: &str = "e22b3a29260c404183d1a0ea6cbd4418";

    fn values() -> BundleValues {
        BundleValues {
            template_id: GUID.into(),
            connector_id: "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0".into(),
            tenant_id: TenantId::parse("11111111-2222-4333-8444-555555555555").unwrap(),
            outpost_client_id: ObjectId::parse("0a1b2c3d-0000-4000-8000-00000000c0de").unwrap(),
            customer_object_id: ObjectId::parse("5e5e5e5e-1111-4222-8333-444444444444").unwrap(),
            resource_suffix: "cc-e22b3a2926".into(),
            template_version: BTreeMap::from([("BASE-tf_org_base".into(), "1.0.0".into())]),
            tags: BTreeMap::new(),
            upload_output_url: "http://127.0.0.1:9/_cortex/upload/c0?Expires=1&Signature=ab".into(),
        }
    }

    fn template() -> CortexTemplate {
        CortexTemplate {
            scope: CortexScope::Tenant,
            capabilities: CortexCapabilities::ALL,
            audit_logs: true,
            cloud_environment: CloudEnvironment::Public,
        }
    }

    #[test]
    fn links_carry_the_guid_the_sdk_regex_reads_and_expire_after_seven_days() {
        let signer = LinkSigner::from_key([7; 32]);
        let link = template_link(
            "http://e:1/",
            TemplateKind::Arm,
            GUID,
            1_700_000_000,
            LINK_VALIDITY,
            &signer,
        );
        assert!(link.starts_with(&format!(
            "http://e:1{TEMPLATE_PATH_PREFIX}arm-{GUID}-1700000000.tar.gz?Expires=1700604800&Signature="
        )));
        let (path, query) = link["http://e:1".len()..].split_once('?').unwrap();
        let file = parse_file_name(path.strip_prefix(TEMPLATE_PATH_PREFIX).unwrap()).unwrap();
        assert_eq!(file.kind, TemplateKind::Arm);
        assert_eq!(file.guid, GUID);
        assert_eq!(
            check_signed(path, Some(query), 1_700_604_800, &signer),
            Ok(())
        );
        assert_eq!(
            check_signed(path, Some(query), 1_700_604_801, &signer),
            Err(LinkError::Expired)
        );
        let forged = query.replace("Expires=1700604800", "Expires=1800000000");
        assert_eq!(
            check_signed(path, Some(&forged), 1_700_000_001, &signer),
            Err(LinkError::BadSignature)
        );
        let other = LinkSigner::from_key([8; 32]);
        assert_eq!(
            check_signed(path, Some(query), 1_700_000_001, &other),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            check_signed(path, None, 0, &signer),
            Err(LinkError::Malformed)
        );
        assert_eq!(
            check_signed(path, Some("Expires=x&Signature=zz"), 0, &signer),
            Err(LinkError::Malformed)
        );
        assert!(parse_file_name("tf-E22B3A29260C404183D1A0EA6CBD4418-1.tar.gz").is_none());
        assert!(parse_file_name("tf-e22b3a29260c404183d1a0ea6cbd4418-1.zip").is_none());
        assert!(parse_file_name("tf-e22b3a29260c404183d1a0ea6cbd4418-.tar.gz").is_none());
    }

    #[test]
    fn terraform_bundle_is_a_stable_tar_gz_with_the_module_its_values_and_the_twin() {
        let a = build_bundle(
            TemplateKind::Terraform,
            &template(),
            &values(),
            1_700_000_000,
        )
        .unwrap();
        let b = build_bundle(
            TemplateKind::Terraform,
            &template(),
            &values(),
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(a.bytes, b.bytes, "same link, same bytes");
        assert_eq!(a.etag().len(), 32);
        assert!(a.goog_hash().starts_with("md5="));
        assert_eq!(a.file_name, format!("tf-{GUID}-1700000000.tar.gz"));
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(a.bytes.as_slice())
            .read_to_end(&mut tar)
            .unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut names = Vec::new();
        let mut tfvars = Value::Null;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            let json: Option<Value> = serde_json::from_str(&text).ok();
            if name == "terraform.tfvars.json" {
                tfvars = json.clone().unwrap();
            }
            if name.ends_with(".json") {
                assert!(json.is_some(), "{name} is JSON");
            }
            names.push(name);
        }
        assert_eq!(
            names,
            [
                "main.tf.json",
                "terraform.tfvars.json",
                "twin/main.tf.json",
                "README.md"
            ]
        );
        assert_eq!(tfvars["template_id"], GUID);
        assert_eq!(tfvars["upload_output_url"], values().upload_output_url);
        assert_eq!(tfvars["tags"]["managed_by"], "paloaltonetworks");
        let arm = build_bundle(TemplateKind::Arm, &template(), &values(), 1_700_000_000).unwrap();
        assert_eq!(arm.file_name, format!("arm-{GUID}-1700000000.tar.gz"));
    }
}
