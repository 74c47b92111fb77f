//! Cortex Cloud in its own words, for the pages: what each security capability does (the
//! wizard's checkboxes), what a capability status means and what to do about it (the instance
//! and job pages), and badges for instance and capability statuses. One table, so the wizard,
//! the instances pages and the job page say the same thing.

use cortex_cloud_types::CapabilityStatus;
use cortex_cloud_types::wire::AdditionalCapabilities;

use super::Badge;

/// A capability the wizard offers: the request's name, the console's title, one sentence.
pub struct CapabilityWords {
    /// As `RawCortexRequest::capabilities` takes it.
    pub value: &'static str,
    pub title: &'static str,
    pub sentence: &'static str,
}

/// The capabilities a request may turn on (fact sheet sections 4.1 and 6), in the console's order.
/// Discovery (posture and asset inventory) is always on and has no checkbox.
pub const CAPABILITIES: [CapabilityWords; 5] = [
    CapabilityWords {
        value: "agentless_disk_scanning",
        title: "Agentless Disk Scanning",
        sentence: "Scans the disks of virtual machines for vulnerabilities, malware and secrets \
                   from snapshots, without an agent on the machines.",
    },
    CapabilityWords {
        value: "data_security_posture_management",
        title: "Data Security (DSPM)",
        sentence: "Finds and classifies sensitive data in storage accounts and databases, and \
                   who can reach it.",
    },
    CapabilityWords {
        value: "registry_scanning",
        title: "Registry Scanning",
        sentence: "Scans the container images in Azure Container Registries for \
                   vulnerabilities (which images: see the registry options).",
    },
    CapabilityWords {
        value: "serverless_scanning",
        title: "Serverless Scanning",
        sentence: "Scans the code and packages of Azure Functions for vulnerabilities and \
                   secrets.",
    },
    CapabilityWords {
        value: "xsiam_analytics",
        title: "XSIAM analytics",
        sentence: "Feeds the cloud's logs to Cortex's analytics engine, which raises alerts on \
                   suspicious activity (most useful with audit logs on).",
    },
];

/// The words for a capability as an instance's `security_capabilities` name it (`ADS`,
/// `DSPM`, `REGISTRY`, `SERVERLESS`); `None` for those without a request flag (discovery,
/// permissions, audit logs, identity security) and for names this product does not know.
pub fn words_for_api_name(name: &str) -> Option<&'static CapabilityWords> {
    let value = match name.trim().to_ascii_uppercase().as_str() {
        "ADS" => "agentless_disk_scanning",
        "DSPM" => "data_security_posture_management",
        "REGISTRY" => "registry_scanning",
        "SERVERLESS" => "serverless_scanning",
        "XSIAM_ANALYTICS" => "xsiam_analytics",
        _ => return None,
    };
    CAPABILITIES.iter().find(|c| c.value == value)
}

/// The titles of the capabilities an instance row says are on (discovery always first).
pub fn capabilities_on(c: &AdditionalCapabilities, audit_logs: bool) -> Vec<&'static str> {
    let mut on = vec!["Discovery"];
    for (flag, title) in [
        (c.agentless_disk_scanning, CAPABILITIES[0].title),
        (c.data_security_posture_management, CAPABILITIES[1].title),
        (c.registry_scanning, CAPABILITIES[2].title),
        (c.serverless_scanning, CAPABILITIES[3].title),
        (c.xsiam_analytics, CAPABILITIES[4].title),
    ] {
        if flag == Some(true) {
            on.push(title);
        }
    }
    if audit_logs {
        on.push("Audit logs");
    }
    on
}

/// What a capability's status means, and what to do about it.
pub fn capability_fix(status: CapabilityStatus) -> &'static str {
    match status {
        CapabilityStatus::Connected => "Working: nothing to do.",
        CapabilityStatus::Retrieving => {
            "Cortex Cloud is still determining it; it settles within minutes of the template's \
             run. Reload to see it."
        }
        CapabilityStatus::Warning => {
            "Works in part. The message says what is missing; fix it in Azure (usually a role or \
             setting the template grants), then re-run the template or wait for the next scan."
        }
        CapabilityStatus::Error => {
            "Does not work. The message names the permission or resource at fault; fix it in \
             Azure and re-run the template (Re-download Connection Template in the console)."
        }
        CapabilityStatus::Disabled => {
            "Not chosen for this instance. Turn it on by editing the instance in Cortex Cloud, \
             then re-run the template."
        }
    }
}

/// A badge for a capability status.
pub fn capability_badge(status: CapabilityStatus) -> Badge {
    let (icon, class) = match status {
        CapabilityStatus::Connected => ("ok", "ok"),
        CapabilityStatus::Warning => ("warn", "warn"),
        CapabilityStatus::Error => ("bad", "bad"),
        CapabilityStatus::Retrieving => ("run", "run"),
        CapabilityStatus::Disabled => ("stopped", "muted"),
    };
    Badge {
        icon,
        text: status.label().into(),
        class,
    }
}

/// A badge for an instance (or account) status as the API writes it (`CONNECTED`, …).
pub fn status_badge(status: &str) -> Badge {
    let word = status.trim().to_ascii_lowercase();
    let (icon, class) = match word.as_str() {
        "connected" | "enabled" | "active" => ("ok", "ok"),
        "warning" | "partially_connected" => ("warn", "warn"),
        "error" | "failed" => ("bad", "bad"),
        "disabled" | "deleted" => ("stopped", "muted"),
        _ => ("pending", "muted"),
    };
    Badge {
        icon,
        text: word.replace('_', " "),
        class,
    }
}

/// A scope as the API writes it (`ORGANIZATION`, …), in Azure's words.
pub fn scope_words(scope: &str) -> String {
    match scope.trim().to_ascii_uppercase().as_str() {
        "ORGANIZATION" => "tenant".into(),
        "ACCOUNT_GROUP" => "management group".into(),
        "ACCOUNT" => "subscription".into(),
        other => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_fix_and_a_badge_that_is_not_colour_alone() {
        for code in 0..=4 {
            let s = CapabilityStatus::try_from(code).unwrap();
            assert!(capability_fix(s).ends_with('.'), "{s}");
            let b = capability_badge(s);
            assert_eq!(b.text, s.label());
            assert!(!b.icon.is_empty());
        }
        assert_eq!(status_badge("CONNECTED").class, "ok");
        assert_eq!(status_badge("PENDING").text, "pending");
        assert_eq!(scope_words("ACCOUNT_GROUP"), "management group");
        assert_eq!(
            words_for_api_name("ads").map(|w| w.title),
            Some("Agentless Disk Scanning")
        );
        assert!(words_for_api_name("DISCOVERY").is_none());
    }

    #[test]
    fn the_capabilities_on_follow_the_flags() {
        let c = AdditionalCapabilities {
            registry_scanning: Some(true),
            serverless_scanning: Some(false),
            ..AdditionalCapabilities::default()
        };
        assert_eq!(
            capabilities_on(&c, true),
            ["Discovery", "Registry Scanning", "Audit logs"]
        );
    }
}
