//! What an operator reads next to a failing capability: the fix, and a link to the docs.
//!
//! Prisma Cloud's `config/status` items (verify) carry their own remediation; its pre-flight
//! status checks (`POST /cas/v1/cloud_account/status/azure`) carry only a message. So a
//! pre-flight failure gets the fix from here: what the capability needs in Azure, from the
//! same permission catalog our Terraform configuration assigns (`azure_config::permissions`).
//! Every capability links to Prisma Cloud's Azure onboarding troubleshooting page, which lists
//! the usual causes and how to check them.

use azure_config::permissions;
use prisma_types::Feature;

/// Prisma Cloud's troubleshooting page for Azure onboarding.
pub const TROUBLESHOOTING_DOCS: &str = "https://docs.prismacloud.io/en/enterprise-edition/content-collections/connect/connect-cloud-accounts/onboard-your-azure-account/troubleshoot-azure-account-onboarding";
/// Prisma Cloud's page on the roles and permissions onboarding grants.
pub const PERMISSIONS_DOCS: &str = "https://docs.prismacloud.io/en/enterprise-edition/content-collections/connect/connect-cloud-accounts/onboard-your-azure-account/authorize-prisma-cloud";

/// The docs page for a capability (its Prisma Cloud component name).
pub fn docs_url(capability: &str) -> &'static str {
    match capability {
        "Cloud Visibility Compliance and Governance" | "Microsoft Entra ID" => TROUBLESHOOTING_DOCS,
        _ => PERMISSIONS_DOCS,
    }
}

/// The fix for a failing capability when Prisma Cloud gave none: what the service principal
/// needs for it, from the permission catalog. `scope` names where roles are assigned.
pub fn fix_for(capability: &str, scope: &str) -> String {
    let feature = |f: Feature| {
        format!(
            "Give the Prisma Cloud service principal what {} needs at the {scope}: {} \
             Re-applying the onboarding configuration with this feature assigns it.",
            f.display_name(),
            lower_first(&permissions::feature_needs(f).grants_sentence()),
        )
    };
    match capability {
        "Cloud Visibility Compliance and Governance" => format!(
            "Check that the subscription exists and is enabled, that the service principal \
             object id is the Enterprise application's (not the app registration's client id), \
             and that the service principal has the {} role and the Prisma Cloud custom role at \
             the {scope}.",
            permissions::READER
        ),
        "Flow Logs" => format!(
            "Assign the built-in role \"{}\" to the Prisma Cloud service principal at the \
             {scope} and include {} in its custom role; NSG flow logs must be written to a \
             storage account in the NSG's region.",
            permissions::READER_AND_DATA_ACCESS,
            permissions::FLOW_LOG_STATUS_ACTION
        ),
        "Agentless Scanning" => feature(Feature::AgentlessScanning),
        "Serverless Function Scanning" => feature(Feature::ServerlessFunctionScanning),
        "Remediation" => feature(Feature::Remediation),
        "Auto Protect" => format!(
            "Assign \"{}\" to the Prisma Cloud service principal at the {scope} (Auto Protect \
             wraps and unwraps keys in Key Vault).",
            permissions::KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER
        ),
        "Microsoft Entra ID" => format!(
            "Grant admin consent for the Microsoft Graph application permissions {} to the \
             Prisma Cloud application (Entra ID → Enterprise applications → Permissions), or \
             onboard with our Terraform configuration, which grants them.",
            permissions::graph_app_role_names().join(", ")
        ),
        other => format!(
            "Check the Azure permissions {other} needs on Prisma Cloud's troubleshooting page."
        ),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPABILITIES: [&str; 7] = [
        "Cloud Visibility Compliance and Governance",
        "Flow Logs",
        "Agentless Scanning",
        "Serverless Function Scanning",
        "Remediation",
        "Auto Protect",
        "Microsoft Entra ID",
    ];

    #[test]
    fn every_capability_has_a_specific_fix_and_a_docs_link() {
        let generic = fix_for("Telepathy", "subscription");
        for c in CAPABILITIES {
            let fix = fix_for(c, "subscription 8f2c1a3e");
            assert_ne!(fix, generic, "{c}");
            assert!(fix.len() > 40, "{c}: {fix}");
            assert!(
                docs_url(c).starts_with("https://docs.prismacloud.io/"),
                "{c}"
            );
        }
        assert!(fix_for("Flow Logs", "x").contains("Reader and Data Access"));
        assert!(fix_for("Microsoft Entra ID", "x").contains("User.Read.All"));
        assert!(fix_for("Microsoft Entra ID", "x").contains("admin consent"));
        assert!(fix_for("Remediation", "subscription X").contains("at the subscription X"));
    }
}
