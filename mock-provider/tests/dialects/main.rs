//! End-to-end tests of the mock's Anthropic, Gemini, Bedrock and Azure OpenAI dialects over
//! real HTTP on 127.0.0.1:0; `failures` runs every scenario failure mode against each.

mod anthropic;
mod azure;
mod bedrock;
mod common;
mod failures;
mod gemini;
