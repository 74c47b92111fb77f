//! Where the CLI's Azure checks go: the process's environment and endpoints, or in the sandbox
//! the emulated Azure (the seeded Contoso tenant, started in-process), signed in as the
//! ci-onboarding service principal unless the environment chooses a non-CLI method. Shared by
//! `doctor` and `discover`.

use azure_access::{Endpoints, Env, Method};
use azure_emulator::RunningCloud;

pub struct AzureTarget {
    pub env: Env,
    pub endpoints: Endpoints,
    cloud: Option<RunningCloud>,
}

impl Drop for AzureTarget {
    fn drop(&mut self) {
        if let Some(cloud) = &self.cloud {
            cloud.task.abort();
        }
    }
}

impl AzureTarget {
    /// `Err((reason, fix))` when the endpoints are not URLs or the emulated Azure cannot start.
    pub async fn open(sandbox: bool) -> Result<Self, (String, String)> {
        let mut env = Env::from_process();
        if !sandbox {
            let endpoints = Endpoints::from_env(&env).map_err(|e| {
                (
                    e.to_string(),
                    "set it to an https URL, or unset it for the public cloud".to_owned(),
                )
            })?;
            return Ok(Self {
                env,
                endpoints,
                cloud: None,
            });
        }
        let cloud = azure_emulator::spawn_cloud(
            "127.0.0.1:0".parse().expect("static address"),
            azure_emulator::tenant_seed::contoso(),
            std::future::pending(),
        )
        .await
        .map_err(|e| {
            (
                format!("the sandbox's emulated Azure did not start: {e}"),
                "free a loopback port".to_owned(),
            )
        })?;
        if azure_access::credentials::detect(&env).is_none_or(|m| m == Method::AzureCli) {
            use azure_emulator::tenant_seed::{TENANT_ID, ids};
            env.set("ARM_TENANT_ID", TENANT_ID);
            env.set("ARM_CLIENT_ID", ids::CI_ONBOARDING_APP);
            env.set("ARM_CLIENT_SECRET", ids::SANDBOX_SECRET);
        }
        let endpoints = Endpoints::emulated(&cloud.base_url());
        Ok(Self {
            env,
            endpoints,
            cloud: Some(cloud),
        })
    }
}
