//! Integration tests: the real `tollgate` binary on port 0 against the in-repo mock provider,
//! over real HTTP, with a real SQLite file (and PostgreSQL when `TOLLGATE_TEST_POSTGRES_URL`
//! is set).

mod console_session;
mod harness;
mod setup;
mod webdriver;

mod anthropic;
mod anthropic_provider;
mod attempt_trail;
mod auth_throttle;
mod authorization;
mod azure;
mod backup;
mod billing;
mod call_log;
mod cli_install;
mod clients;
mod console;
mod credentials_and_members;
mod credit_unit;
mod drain;
mod durability;
mod embeddings;
mod errors;
mod hostile_input;
mod hostile_upstream;
mod image_generation;
mod images;
mod journal_full;
mod limits;
mod management;
mod markup;
mod metrics;
mod model_status;
mod models_page;
mod overspend;
mod patterns;
mod pg_outage;
mod provider_kinds;
mod provider_wire;
mod request_limits;
mod resilience;
mod retention;
mod rotate_key;
mod routing;
mod routing_fixture;
mod sdk;
mod ssrf;
mod ssrf_corpus;
mod stats;
mod stats_margin;
mod traffic;
mod upstream_answers;
mod usage_backlog;
mod usage_cost;
