//! The Cortex Cloud face of the emulator.
//!
//! * [`template`] — the 7-day signed template links and the bundles they download.
//! * [`template_routes`] — their routes, on the state through [`template_routes::TemplateHost`].
//! * [`callback`] — the template's callback (`PUT upload_output_url`, `create_connector`):
//!   checking it, the accounts it brings in, and capability statuses over time.

pub mod callback;
pub mod template;
pub mod template_routes;
