//! Every client secret our Terraform creates has its end date kept in the job's result — for a
//! subscription too (an output Prisma's subscription template lacks), so the dashboard can
//! warn before it expires.

use onboarding_engine::TerraformMode;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::common::{Sandbox, guid, sandbox_mode, subscription};

/// Runs one builtin subscription job with a 90-day rotation; its secret's end date.
async fn expiry_of_a_subscription_job(mode: TerraformMode, n: u32) -> OffsetDateTime {
    let sb = Sandbox::start(mode).await;
    let mut raw = subscription(&guid(0x5e0e, n), "expiring");
    raw.secret_rotation_days = Some(90);
    let before = OffsetDateTime::now_utc();
    let job = sb
        .engine
        .submit(&raw.validate().unwrap(), None, "tester")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.succeeded(job).await;
    let result = record.result.unwrap();
    let text = result["secret_expiry"]
        .as_str()
        .unwrap_or_else(|| panic!("no secret_expiry in {result}"));
    let end = OffsetDateTime::parse(text, &Rfc3339).unwrap();
    let days = (end - before).whole_days();
    assert!((89..=90).contains(&days), "{text} is {days} days ahead");
    end
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_job_keeps_its_secret_end_date_from_terraform() {
    expiry_of_a_subscription_job(sandbox_mode(), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_subscription_job_keeps_its_secret_end_date() {
    expiry_of_a_subscription_job(
        TerraformMode::Replay {
            pace: std::time::Duration::from_millis(1),
        },
        2,
    )
    .await;
}
