//! What to do about a Cortex Cloud capability that reports a warning or an error, by its
//! name in `get_instance_details` (fact sheet §9: PERMISSIONS, DISCOVERY, ADS, DSPM,
//! AUDIT_LOGS, REGISTRY, SERVERLESS, IDENTITY_SECURITY). Cortex's own text is kept beside it.

/// Cortex Cloud's Azure onboarding documentation.
pub const DOCS_URL: &str = "https://docs-cortex.paloaltonetworks.com/r/Cortex-CLOUD/Cortex-Cloud-Runtime-Security-Documentation/Onboard-Microsoft-Azure";

/// The fix for a capability in warning or error.
pub fn fix_for(capability: &str) -> &'static str {
    match capability.trim().to_ascii_uppercase().as_str() {
        "PERMISSIONS" => {
            "re-run the authentication template with an Azure caller that may assign roles at \
             the scope (Owner or User Access Administrator) and grant Graph app roles \
             (Privileged Role Administrator), then resume"
        }
        "DISCOVERY" => {
            "check that Cortex's service principal still holds the cortex-reader role at the \
             scope and Application.Read.All in Microsoft Graph; re-apply the template if not"
        }
        "ADS" => {
            "agentless disk scanning needs the cortex-actions role (Compute galleries, disk \
             snapshots) at the scope and the scanning region enabled; re-apply the template"
        }
        "DSPM" => {
            "data security posture needs storage data read access for Cortex's service \
             principal; re-apply the template with DSPM selected"
        }
        "AUDIT_LOGS" => {
            "check the Event Hub namespace the template created and the diagnostic settings \
             the policy deploys (remediation may still be running on new subscriptions); \
             re-apply the template or run the policy's remediation task"
        }
        "REGISTRY" => {
            "registry scanning needs AcrPull on the registries for Cortex's service principal; \
             re-apply the template with registry scanning selected"
        }
        "SERVERLESS" => {
            "serverless scanning needs read access to Function App code for Cortex's service \
             principal; re-apply the template with serverless scanning selected"
        }
        "IDENTITY_SECURITY" => {
            "identity security needs Directory.Read.All in Microsoft Graph, granted by the \
             tenant-scope template; re-apply it"
        }
        _ => "see the capability's message in the Cortex console and re-apply the template",
    }
}
