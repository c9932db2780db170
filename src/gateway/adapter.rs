//! The provider-adapter layer of a call: for a request in the client's dialect and a route to
//! a provider speaking some protocol, the body to send upstream, and the response converted
//! back into the client's dialect (whole bodies here, streams through a relay [`Shape`]).
//!
//! Same dialect and protocol pass through (only `model` rewritten, usage requested on OpenAI
//! streams); any other pair converts through the canonical form (`protocol::ir`). Every route
//! of a call's plan is prepared before admission, so a request a provider cannot take is the
//! client's 400 before any credit is reserved or any upstream is called. A new protocol adds
//! its arms to [`convert_request`], [`Inbound::response`] and [`Inbound::stream_body`].
//!
//! Embeddings convert per route rather than per protocol: a Bedrock body depends on the model
//! family (Titan or Cohere), so each route's body is written in [`Inbound::prepare`] and kept
//! with its upstream model (`protocol::embeddings`).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::call::CallGuard;
use super::images::{self, Deferred};
use super::relay::{self, Translated};
use super::upstream::UpstreamFailure;
use super::verdict::Verdict;
use super::{relay_anthropic, relay_openai, relay_responses};
use crate::billing::estimate::{self, OutputCount};
use crate::billing::pricing::Usage;
use crate::config::Timeouts;
use crate::error::ApiError;
use crate::protocol::Dialect;
use crate::protocol::Protocol;
use crate::protocol::stream::anthropic_to_openai::AnthropicToOpenAi;
use crate::protocol::stream::anthropic_to_responses::AnthropicToResponses;
use crate::protocol::stream::bedrock_to_anthropic::BedrockToAnthropic;
use crate::protocol::stream::gemini_to_anthropic::GeminiToAnthropic;
use crate::protocol::stream::openai_to_anthropic::OpenAiToAnthropic;
use crate::protocol::stream::via_anthropic::ViaAnthropic;
use crate::protocol::{anthropic, bedrock, embeddings, gemini, ir, openai};
use crate::providers::Operation;
use crate::providers::image_fetch::ImageFetcher;
use crate::routing::failover::Plan;
use crate::routing::resolve::Route;

/// `max_tokens` sent to providers that require one when the client set none: the output
/// admission reserves for such a call.
const DEFAULT_MAX_TOKENS: u32 = crate::billing::estimate::DEFAULT_OUTPUT_CAP as u32;

/// A whole answer in the client's dialect.
pub struct Answer {
    pub body: Bytes,
    /// The usage the provider reported; `None` when it reported none (or only zeros).
    pub usage: Option<Usage>,
    /// The output the answer carries, counted (what it is charged for without usage).
    pub output: OutputCount,
}

/// A request as the client sent it, ready to be built for any route of its plan.
pub struct Inbound {
    pub dialect: Dialect,
    pub operation: Operation,
    /// The body as sent, minus gateway-only fields (the `models` fallback list).
    body: Map<String, Value>,
    /// The model the client asked for (responses name it, not the upstream's).
    pub model: String,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`.
    pub client_wants_usage: bool,
    /// The body converted for each protocol of the plan other than the client's.
    converted: HashMap<Protocol, Map<String, Value>>,
    /// Bodies waiting for image URLs to be fetched (Gemini, Bedrock; see `images.rs`).
    images: Option<Box<Deferred>>,
    /// An embeddings request for providers that are not OpenAI-protocol, and its body for
    /// each (protocol, upstream model) of the plan.
    embeddings: Option<EmbeddingsFor>,
}

/// An embeddings request as converted for the plan's other providers.
struct EmbeddingsFor {
    request: embeddings::Request,
    bodies: Vec<(Protocol, String, Bytes)>,
}

/// The protocol a dialect's requests pass through to unchanged.
fn native(dialect: Dialect) -> Option<Protocol> {
    match dialect {
        Dialect::OpenAi => Some(Protocol::OpenAi),
        Dialect::Anthropic => Some(Protocol::Anthropic),
    }
}

impl Inbound {
    pub fn new(dialect: Dialect, operation: Operation, body: Map<String, Value>, model: String, stream: bool) -> Self {
        let client_wants_usage =
            body.get("stream_options").and_then(|o| o.get("include_usage")).and_then(Value::as_bool).unwrap_or(false);
        Inbound {
            dialect,
            operation,
            body,
            model,
            stream,
            client_wants_usage,
            converted: HashMap::new(),
            images: None,
            embeddings: None,
        }
    }

    /// True when this provider protocol takes the client's body as it is.
    pub fn passes_through(&self, protocol: Protocol) -> bool {
        native(self.dialect) == Some(protocol)
    }

    pub fn body(&self) -> &Map<String, Value> {
        &self.body
    }

    pub fn body_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.body
    }

    /// Converts the body for every protocol of the plan that is not the client's; a request
    /// one of them cannot express is the client's 400. A body that needs image URLs fetched
    /// waits for the first attempt on its protocol (`images.rs`; at most `max_images`).
    pub fn prepare(&mut self, plan: &Plan, max_images: usize) -> Result<(), ApiError> {
        let mut parsed: Option<ir::Request> = None;
        let mut waiting: Vec<Protocol> = Vec::new();
        let mut url_error = None;
        for route in plan.routes() {
            let protocol = route.provider.kind.protocol();
            if self.passes_through(protocol) || self.converted.contains_key(&protocol) || waiting.contains(&protocol) {
                continue;
            }
            let embeds =
                self.operation == Operation::Embeddings && matches!(protocol, Protocol::Gemini | Protocol::Bedrock);
            if embeds {
                self.prepare_embeddings(protocol, &route.upstream_model)?;
                continue;
            }
            if matches!(self.operation, Operation::Embeddings | Operation::Images) {
                return Err(ApiError::invalid(format!(
                    "this endpoint is not available for the model `{}`: its provider `{}` does not serve it",
                    self.model, route.provider.name
                )));
            }
            let ir = match &mut parsed {
                Some(ir) => ir,
                None => {
                    parsed.insert(request_to_ir(self.dialect, self.operation, &self.body).map_err(ApiError::invalid)?)
                }
            };
            match convert_request(ir, protocol) {
                Ok(body) => {
                    self.converted.insert(protocol, body);
                }
                // Only a failed conversion looks for image URLs: other requests pay nothing.
                Err(e) if images::needs_inline(protocol) && images::has_urls(ir) => {
                    waiting.push(protocol);
                    url_error.get_or_insert(e);
                }
                Err(e) => return Err(ApiError::invalid(e)),
            }
        }
        if let (Some(ir), Some(e)) = (parsed, url_error) {
            self.images = Some(Box::new(Deferred::new(ir, waiting, max_images, convert_request, e)?));
        }
        Ok(())
    }

    /// Writes the embeddings body for one (protocol, upstream model), reading the client's
    /// request the first time; what the provider cannot take is the client's 400.
    fn prepare_embeddings(&mut self, protocol: Protocol, upstream_model: &str) -> Result<(), ApiError> {
        let e = match &mut self.embeddings {
            Some(e) => e,
            None => self.embeddings.insert(EmbeddingsFor {
                request: embeddings::Request::from_openai(&self.body).map_err(ApiError::invalid)?,
                bodies: Vec::new(),
            }),
        };
        if e.bodies.iter().any(|(p, m, _)| *p == protocol && m == upstream_model) {
            return Ok(());
        }
        let body = match protocol {
            Protocol::Gemini => gemini::embeddings::request_body(&e.request, upstream_model),
            _ => bedrock::embeddings::request_body(&e.request, upstream_model).map_err(ApiError::invalid)?,
        };
        let bytes = Bytes::from(serde_json::to_vec(&body).expect("a JSON value serializes"));
        e.bodies.push((protocol, upstream_model.to_string(), bytes));
        Ok(())
    }

    /// [`Inbound::body_for`], once the route's body is ready: a body waiting for image URLs
    /// has them fetched (once per request) and is converted now. A failed fetch is the
    /// client's 400.
    pub async fn ready_body_for(&mut self, route: &Route, fetcher: &ImageFetcher) -> Result<Bytes, UpstreamFailure> {
        let protocol = route.provider.kind.protocol();
        if let Some(deferred) = self.images.as_deref_mut()
            && deferred.waits_for(protocol)
        {
            let body = deferred.body_for(protocol, fetcher, convert_request).await?;
            self.converted.insert(protocol, body);
        }
        Ok(self.body_for(route))
    }

    /// Time spent fetching images for this request (waiting on other hosts).
    pub fn image_fetch_time(&self) -> Duration {
        self.images.as_ref().map_or(Duration::ZERO, |d| d.spent)
    }

    /// The upstream body for one route: its protocol's form with the route's model. Written
    /// straight from the stored body with the per-route fields substituted, so an attempt
    /// never deep-copies the request (which may carry megabytes of base64 images).
    pub fn body_for(&self, route: &Route) -> Bytes {
        let protocol = route.provider.kind.protocol();
        if let Some(e) = self.embeddings.as_ref().filter(|_| !self.passes_through(protocol)) {
            let prepared = e.bodies.iter().find(|(p, m, _)| *p == protocol && *m == route.upstream_model);
            return prepared.expect("prepare wrote a body for every route of the plan").2.clone();
        }
        let body = self.converted.get(&protocol).unwrap_or(&self.body);
        let outgoing = Outgoing {
            body,
            // Gemini and Bedrock name the model in the URL (`providers/`), not in the body.
            model: matches!(protocol, Protocol::OpenAi | Protocol::Anthropic).then_some(route.upstream_model.as_str()),
            // The gateway bills on usage: always asked for, stripped again if the client did not.
            force_usage: protocol == Protocol::OpenAi && self.stream && self.operation == Operation::Chat,
        };
        Bytes::from(serde_json::to_vec(&outgoing).expect("a JSON map serializes"))
    }

    /// Why a whole upstream body is not an answer of `protocol` for this request (checked
    /// while attempts may still fail over): see [`crate::protocol::not_an_answer`].
    pub fn check_answer(&self, protocol: Protocol, body: &[u8]) -> Result<(), String> {
        let member = match (protocol, self.operation) {
            (Protocol::OpenAi, Operation::Embeddings | Operation::Images) => Some("data"),
            (Protocol::Gemini, Operation::Embeddings) => Some("embeddings"),
            // Titan answers `embedding`, Cohere `embeddings`: the parser tells.
            (Protocol::Bedrock, Operation::Embeddings) => None,
            (Protocol::OpenAi, Operation::Responses) => Some("output"),
            (Protocol::OpenAi, _) => Some("choices"),
            (Protocol::Anthropic, _) => Some("content"),
            (Protocol::Bedrock, _) => Some("output"),
            // A blocked prompt is an answer without candidates; its parser tells the rest.
            (Protocol::Gemini, _) => None,
        };
        match crate::protocol::not_an_answer(body, member) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// A whole upstream response body in the client's dialect, the usage it reports (`None`
    /// when it reports none, or only zeros) and the output it carries. A converted answer
    /// without usage tells the client the counted estimate it is charged (`prompt_tokens`
    /// from admission and the output counted here), never zeros; a passed-through body is
    /// relayed as it is. An error is a provider answer that is not what its protocol promises.
    /// `header_tokens` is an input token count the provider sent in a header (Bedrock's
    /// InvokeModel).
    pub fn response(
        &self,
        protocol: Protocol,
        upstream: Bytes,
        prompt_tokens: i64,
        header_tokens: Option<i64>,
    ) -> Result<Answer, String> {
        let reported = |u: Option<Usage>| u.filter(|u| !u.is_zero());
        if self.passes_through(protocol) {
            let (usage, output) = match protocol {
                Protocol::OpenAi if self.operation == Operation::Responses => {
                    (openai::responses::usage_of(&upstream), openai::responses::answer_output_bytes(&upstream))
                }
                Protocol::OpenAi if self.operation == Operation::Images => (openai::images::usage_of(&upstream), 0),
                Protocol::OpenAi => (openai::usage_of(&upstream), openai::answer_output_bytes(&upstream)),
                Protocol::Anthropic => (anthropic::usage_of(&upstream), anthropic::answer_output_bytes(&upstream)),
                Protocol::Gemini | Protocol::Bedrock => unreachable!("no client dialect is Gemini's or Bedrock's"),
            };
            return Ok(Answer { body: upstream, usage: reported(usage), output: OutputCount::of(output) });
        }
        if let Some(e) = &self.embeddings {
            return self.embeddings_response(e, protocol, &upstream, prompt_tokens, header_tokens);
        }
        let mut response = match protocol {
            Protocol::OpenAi => openai::chat::parse_response(&upstream)?,
            Protocol::Anthropic => anthropic::parse_response(&upstream)?,
            Protocol::Gemini => gemini::parse_response(&upstream)?,
            Protocol::Bedrock => bedrock::parse_response(&upstream, &message_id())?,
        };
        response.model = self.model.clone();
        let output = OutputCount::of(response.output_bytes());
        let usage = reported(Some(response.usage));
        if usage.is_none() {
            response.usage = estimate::counted(prompt_tokens, output);
        }
        let now = crate::clock::now_ms() / 1000;
        let body = match self.dialect {
            Dialect::OpenAi if self.operation == Operation::Responses => {
                openai::responses::response_from_ir(&response, now)
            }
            Dialect::OpenAi => openai::chat::response_from_ir(&response, now),
            Dialect::Anthropic => serde_json::to_value(anthropic::response_from_ir(&response)).expect("serializes"),
        };
        Ok(Answer { body: Bytes::from(serde_json::to_vec(&body).expect("serializes")), usage, output })
    }

    /// A Gemini or Bedrock embeddings answer as the OpenAI list. Without a reported count the
    /// usage it shows is admission's count of the input, which is what the call is charged.
    fn embeddings_response(
        &self,
        e: &EmbeddingsFor,
        protocol: Protocol,
        upstream: &[u8],
        prompt_tokens: i64,
        header_tokens: Option<i64>,
    ) -> Result<Answer, String> {
        let inputs = e.request.inputs.len();
        let vectors = match protocol {
            Protocol::Gemini => gemini::embeddings::parse_response(upstream, inputs)?,
            _ => bedrock::embeddings::parse_response(upstream, inputs, header_tokens)?,
        };
        let usage = vectors.input_tokens.map(|n| Usage { input_tokens: n, ..Usage::default() });
        let shown = vectors.input_tokens.unwrap_or(prompt_tokens);
        let body = embeddings::openai_list(&vectors, &self.model, e.request.base64, shown);
        Ok(Answer { body: Bytes::from(body), usage, output: OutputCount::of(0) })
    }

    /// The client's streamed body for an upstream stream of `protocol`.
    pub fn stream_body(
        &self,
        protocol: Protocol,
        resp: crate::providers::http::Response,
        call: CallGuard,
        verdict: Verdict,
        timeouts: &Timeouts,
        keepalive: Duration,
    ) -> Body {
        let (r, c, v, t, k) = (resp, call, verdict, timeouts, keepalive);
        match (self.dialect, protocol) {
            (Dialect::OpenAi, Protocol::OpenAi) if self.operation == Operation::Responses => {
                relay::stream(r, c, v, t, k, relay_responses::Passthrough::default())
            }
            (Dialect::OpenAi, Protocol::OpenAi) => {
                relay::stream(r, c, v, t, k, relay_openai::Passthrough::new(self.client_wants_usage))
            }
            (Dialect::Anthropic, Protocol::OpenAi) => {
                relay::stream(r, c, v, t, k, Translated::new(OpenAiToAnthropic::new(self.model.clone())))
            }
            (Dialect::Anthropic, Protocol::Anthropic) => {
                relay::stream(r, c, v, t, k, relay_anthropic::Passthrough::default())
            }
            (Dialect::OpenAi, Protocol::Anthropic) if self.operation == Operation::Responses => {
                relay::stream(r, c, v, t, k, Translated::new(self.to_responses()))
            }
            (Dialect::OpenAi, Protocol::Gemini) if self.operation == Operation::Responses => {
                let machine = ViaAnthropic::new(GeminiToAnthropic::new(self.model.clone()), self.to_responses());
                relay::stream(r, c, v, t, k, Translated::new(machine))
            }
            (Dialect::OpenAi, Protocol::Bedrock) if self.operation == Operation::Responses => {
                let machine =
                    ViaAnthropic::new(BedrockToAnthropic::new(self.model.clone(), message_id()), self.to_responses());
                relay::stream(r, c, v, t, k, Translated::event_stream(machine))
            }
            (Dialect::OpenAi, Protocol::Anthropic) => relay::stream(r, c, v, t, k, Translated::new(self.to_openai())),
            (Dialect::Anthropic, Protocol::Gemini) => {
                relay::stream(r, c, v, t, k, Translated::new(GeminiToAnthropic::new(self.model.clone())))
            }
            (Dialect::OpenAi, Protocol::Gemini) => {
                let machine = ViaAnthropic::new(GeminiToAnthropic::new(self.model.clone()), self.to_openai());
                relay::stream(r, c, v, t, k, Translated::new(machine))
            }
            (Dialect::Anthropic, Protocol::Bedrock) => {
                let machine = BedrockToAnthropic::new(self.model.clone(), message_id());
                relay::stream(r, c, v, t, k, Translated::event_stream(machine))
            }
            (Dialect::OpenAi, Protocol::Bedrock) => {
                let machine =
                    ViaAnthropic::new(BedrockToAnthropic::new(self.model.clone(), message_id()), self.to_openai());
                relay::stream(r, c, v, t, k, Translated::event_stream(machine))
            }
        }
    }

    /// Anthropic events to Responses events: the last leg of a converted Responses stream.
    fn to_responses(&self) -> AnthropicToResponses {
        AnthropicToResponses::new(self.model.clone(), crate::clock::now_ms() / 1000)
    }

    /// The operation an upstream of `protocol` is asked for: a Responses request converted for
    /// another protocol is that protocol's chat call.
    pub fn upstream_operation(&self, protocol: Protocol) -> Operation {
        if self.operation == Operation::Responses && !self.passes_through(protocol) {
            Operation::Chat
        } else {
            self.operation
        }
    }

    /// Anthropic events to OpenAI chunks: the last leg of every stream an OpenAI client gets
    /// from a provider that is not OpenAI-protocol.
    fn to_openai(&self) -> AnthropicToOpenAi {
        AnthropicToOpenAi::new(self.model.clone(), crate::clock::now_ms() / 1000, self.client_wants_usage)
    }
}

/// A body as sent upstream: `body` with `model` set (when given) and, when `force_usage`,
/// `stream_options.include_usage` true (added, or replacing a non-object `stream_options`).
struct Outgoing<'a> {
    body: &'a Map<String, Value>,
    model: Option<&'a str>,
    force_usage: bool,
}

impl Serialize for Outgoing<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.body {
            match k.as_str() {
                "model" if self.model.is_some() => continue,
                "stream_options" if self.force_usage => continue,
                _ => m.serialize_entry(k, v)?,
            }
        }
        if let Some(model) = self.model {
            m.serialize_entry("model", model)?;
        }
        if self.force_usage {
            let given = self.body.get("stream_options").and_then(Value::as_object);
            m.serialize_entry("stream_options", &WithUsage(given))?;
        }
        m.end()
    }
}

/// The client's `stream_options` (if an object) with `include_usage: true`.
struct WithUsage<'a>(Option<&'a Map<String, Value>>);

impl Serialize for WithUsage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.0.into_iter().flatten().filter(|(k, _)| k.as_str() != "include_usage") {
            m.serialize_entry(k, v)?;
        }
        m.serialize_entry("include_usage", &true)?;
        m.end()
    }
}

/// An id for a message whose provider gives none (Bedrock).
fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

/// The client's body in the canonical form.
fn request_to_ir(dialect: Dialect, operation: Operation, body: &Map<String, Value>) -> Result<ir::Request, String> {
    match dialect {
        Dialect::OpenAi if operation == Operation::Responses => openai::responses::request_to_ir(body),
        Dialect::OpenAi => openai::chat::request_to_ir(body),
        Dialect::Anthropic => {
            let req: anthropic::MessagesRequest = serde_json::from_value(Value::Object(body.clone()))
                .map_err(|e| format!("invalid request body: {e}"))?;
            anthropic::request_to_ir(req)
        }
    }
}

/// The canonical request as a body of `protocol` (its `model` is set per route).
fn convert_request(r: &ir::Request, protocol: Protocol) -> Result<Map<String, Value>, String> {
    let v = match protocol {
        Protocol::OpenAi => openai::chat::request_from_ir(r),
        // Anthropic requires `max_tokens`; OpenAI clients may leave it out.
        Protocol::Anthropic => {
            serde_json::to_value(anthropic::request_from_ir(r, DEFAULT_MAX_TOKENS)?).expect("a request serializes")
        }
        Protocol::Gemini => serde_json::to_value(gemini::request_from_ir(r)?).expect("a request serializes"),
        Protocol::Bedrock => bedrock::request_from_ir(r)?,
    };
    match v {
        Value::Object(m) => Ok(m),
        _ => unreachable!("request bodies are JSON objects"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::Outgoing;

    fn out(body: Value, model: Option<&str>, force_usage: bool) -> Value {
        let body = body.as_object().unwrap();
        serde_json::from_slice(&serde_json::to_vec(&Outgoing { body, model, force_usage }).unwrap()).unwrap()
    }

    #[test]
    fn the_route_model_replaces_or_joins_the_body() {
        let body = json!({"model": "smart", "messages": [{"role": "user", "content": "hi"}], "x": {"y": 1}});
        let expected = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "x": {"y": 1}});
        assert_eq!(out(body.clone(), Some("gpt-4o"), false), expected);
        assert_eq!(out(json!({"contents": []}), Some("m"), false), json!({"contents": [], "model": "m"}));
        assert_eq!(out(body.clone(), None, false), body);
    }

    #[test]
    fn streams_always_ask_for_usage_keeping_other_options() {
        let cases = [
            (json!({"stream": true}), json!({"include_usage": true})),
            (json!({"stream_options": {"include_usage": false, "z": 2}}), json!({"include_usage": true, "z": 2})),
            (json!({"stream_options": "odd"}), json!({"include_usage": true})),
        ];
        for (body, options) in cases {
            let sent = out(body, Some("m"), true);
            assert_eq!(sent["stream_options"], options);
            assert_eq!(sent["model"], "m");
        }
    }
}
