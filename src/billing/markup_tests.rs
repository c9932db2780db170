use proptest::prelude::*;

use super::*;
use crate::billing::price_shapes::{ServiceTier, Shape};

const NANO: i64 = 1_000_000_000;

fn rule(multiplier: Option<&str>, fee: Option<i64>) -> Rule {
    Rule { multiplier: multiplier.map(|m| Multiplier::parse(m).unwrap()), request_fee: fee }
}

fn price(input: i64, output: i64) -> Pricing {
    Pricing { input, output, ..Pricing::default() }
}

fn usage(input: i64, output: i64) -> Usage {
    Usage { input_tokens: input, output_tokens: output, ..Usage::default() }
}

#[test]
fn multipliers_parse_exactly_and_below_one_is_refused() {
    assert_eq!(Multiplier::parse("1.25").unwrap().ppm(), 1_250_000);
    assert_eq!(Multiplier::parse("1").unwrap(), Multiplier::ONE);
    assert_eq!(Multiplier::parse("1.000001").unwrap().ppm(), 1_000_001);
    assert_eq!(Multiplier::parse("3").unwrap().to_decimal(), "3");
    assert_eq!(Multiplier::parse("1.5").unwrap().to_decimal(), "1.5");
    assert!(Multiplier::parse("0.9").unwrap_err().contains("at least 1"));
    assert!(Multiplier::parse("1.0000001").is_err(), "seven decimals are not rounded");
    assert!(Multiplier::parse("1001").is_err());
    assert!(Multiplier::parse("abc").is_err());
    let i: RuleInput = serde_json::from_str(r#"{"multiplier": 1.2, "request_fee": "0.001"}"#).unwrap();
    let mut r = Rule::default();
    i.apply(&mut r).unwrap();
    assert_eq!(r, rule(Some("1.2"), Some(1_000_000)));
    assert_eq!(r.to_json(), serde_json::json!({"multiplier": "1.2", "request_fee": "0.001"}));
    // `null` clears a part, leaving it out keeps it.
    let i: RuleInput = serde_json::from_str(r#"{"multiplier": null}"#).unwrap();
    i.apply(&mut r).unwrap();
    assert_eq!(r, rule(None, Some(1_000_000)));
    let i: RuleInput = serde_json::from_str(r#"{"request_fee": -1}"#).unwrap();
    assert_eq!(i.apply(&mut r).unwrap_err().0, "request_fee");
    assert!(serde_json::from_str::<RuleInput>(r#"{"multiplier": 0.5}"#).is_err());
    assert!(serde_json::from_str::<RuleInput>(r#"{"bogus": 1}"#).is_err());
}

#[test]
fn the_most_specific_level_decides_each_part() {
    let model = rule(Some("2"), None);
    let provider = rule(Some("1.5"), Some(5));
    let global = rule(Some("1.1"), Some(7));
    let none = Rule::default();
    // Each level in turn is the most specific one that sets the multiplier.
    let m = Markup::resolve([&model, &provider, &global]);
    assert_eq!((m.multiplier.ppm(), m.request_fee), (2_000_000, 5));
    let m = Markup::resolve([&none, &provider, &global]);
    assert_eq!((m.multiplier.ppm(), m.request_fee), (1_500_000, 5));
    let m = Markup::resolve([&none, &none, &global]);
    assert_eq!((m.multiplier.ppm(), m.request_fee), (1_100_000, 7));
    assert_eq!(Markup::resolve([&none, &none, &none]), Markup::NONE);
    // A fourth level (a plan's) between the model and the provider is one more entry.
    let plan = rule(Some("1.3"), None);
    let m = Markup::resolve([&none, &plan, &provider, &global]);
    assert_eq!(m.multiplier.ppm(), 1_300_000);
}

#[test]
fn exact_money_at_each_level() {
    // gpt-4o-mini's catalog price: 0.15 and 0.60 credits per million tokens.
    let p = price(150_000_000, 600_000_000);
    let u = usage(1000, 500);
    // At cost: 0.00045 credits.
    assert_eq!(Markup::NONE.charge(&p, &u), Charge { base: 450_000, cost: 450_000 });
    // Global ×1.1: 0.000495 exactly.
    let global = rule(Some("1.1"), None);
    let m = Markup::resolve([&Rule::default(), &Rule::default(), &global]);
    assert_eq!(m.charge(&p, &u), Charge { base: 450_000, cost: 495_000 });
    // Provider ×1.5 and a 0.001-credit fee: 0.000675 + 0.001.
    let provider = rule(Some("1.5"), Some(NANO / 1000));
    let m = Markup::resolve([&Rule::default(), &provider, &global]);
    assert_eq!(m.charge(&p, &u), Charge { base: 450_000, cost: 675_000 + 1_000_000 });
    // Model ×1.333333 over one input token at 1 nano-credit per million: the exact value
    // 1.333333e-6 nano-credits is rounded up once, to 1 — not 1 × 1 rounded twice into 2.
    let model = rule(Some("1.333333"), None);
    let m = Markup::resolve([&model, &provider, &global]);
    assert_eq!(m.charge(&price(1, 0), &usage(1, 0)), Charge { base: 1, cost: 1 + NANO / 1000 });
    // One rounding over the whole call: 3 tokens at 1 nano-credit per million × 1.333333
    // is 3.999999e-6, rounded up to 1 (three roundings would give 3).
    assert_eq!(Markup::resolve([&model]).charge(&price(1, 0), &usage(3, 0)).cost, 1);
    // Per-image and per-request prices are marked up too; the fee is not.
    let units = Pricing { per_image: 40_000_000, per_request: 10, ..Pricing::default() };
    let u = Usage { images: 2, ..Usage::default() };
    let m = Markup::resolve([&rule(Some("1.25"), Some(3))]);
    assert_eq!(m.charge(&units, &u), Charge { base: 80_000_010, cost: 100_000_013 + 3 });
}

#[test]
fn effective_price_lists_round_each_price_up() {
    let p = Pricing { input: 150_000_000, output: 600_000_000, cached_input: Some(75_000_000), ..Pricing::default() };
    let m = Markup::resolve([&rule(Some("1.2"), Some(NANO / 100))]);
    let e = m.effective(&p);
    assert_eq!(
        (e.input, e.output, e.cached_input, e.per_request),
        (180_000_000, 720_000_000, Some(90_000_000), NANO / 100)
    );
    assert_eq!(Markup::resolve([&rule(Some("1.000001"), None)]).effective(&price(1, 0)).input, 2);
    assert_eq!(Markup::NONE.effective(&p), p);
}

/// Up to 1000 credits per million tokens (and per unit), where a call's charge stays far
/// inside an i64 of nano-credits.
fn any_price() -> impl Strategy<Value = Pricing> {
    let nanos = 0i64..1_000 * NANO;
    (
        nanos.clone(),
        nanos.clone(),
        proptest::option::of(nanos.clone()),
        proptest::option::of(nanos),
        0i64..NANO,
        0i64..NANO,
    )
        .prop_map(|(input, output, cached_input, cache_write, per_image, per_request)| Pricing {
            input,
            output,
            cached_input,
            cache_write,
            per_image,
            per_request,
            ..Pricing::default()
        })
}

fn any_usage() -> impl Strategy<Value = Usage> {
    let tokens = 0i64..10_000_000;
    (tokens.clone(), tokens.clone(), tokens.clone(), tokens, 0i64..16).prop_map(|(i, o, c, w, images)| Usage {
        input_tokens: i,
        output_tokens: o,
        cached_tokens: c,
        cache_write_tokens: w,
        images,
        ..Usage::default()
    })
}

proptest! {
    /// The charge is the exact value of base × multiplier rounded up once (the smallest whole
    /// nano-credit not below it), plus the fee, and never below the provider cost.
    #[test]
    fn a_charge_is_base_times_multiplier_rounded_up_once(
        p in any_price(),
        u in any_usage(),
        ppm in PPM..=MAX_MULTIPLIER_PPM,
        fee in 0i64..NANO,
    ) {
        let m = Markup { multiplier: Multiplier::from_ppm(ppm).unwrap(), request_fee: fee };
        let c = m.charge(&p, &u);
        prop_assert_eq!(c.base, p.cost(&u));
        // The exact charge in 10^-12 nano-credits, computed from the prices, not the helper.
        let exact_base = (u.input_tokens as i128 * p.input as i128
            + u.output_tokens as i128 * p.output as i128
            + u.cached_tokens as i128 * p.cached_input.unwrap_or(p.input) as i128
            + u.cache_write_tokens as i128 * p.cache_write.unwrap_or(p.input) as i128)
            + (u.images as i128 * p.per_image as i128 + p.per_request as i128) * 1_000_000;
        let exact = exact_base * ppm as i128;
        let marked = (c.cost - fee) as i128;
        let scale = 1_000_000i128 * PPM as i128;
        prop_assert!(marked * scale >= exact, "not below the exact value");
        prop_assert!((marked - 1) * scale < exact || marked == 0, "rounded up once, by less than one nano-credit");
        prop_assert!(c.cost >= c.base, "never below cost");
        prop_assert!(c.cost - fee >= c.base);
    }
}

/// A price list with a long-context shape above `threshold` and a priority tier's shape,
/// each setting any of its prices.
fn any_shaped_price() -> impl Strategy<Value = (Pricing, i64)> {
    let nanos = || 0i64..1_000 * NANO;
    let some = || proptest::option::of(nanos());
    let shape = move || (some(), some(), some(), some(), some());
    (any_price(), some(), 1i64..20_000_000, shape(), shape()).prop_map(|(p, w1h, threshold, a, t)| {
        let make = |(input, output, cached_input, cache_write, cache_write_1h), tier, above| Shape {
            service_tier: tier,
            above,
            input,
            output,
            cached_input,
            cache_write,
            cache_write_1h,
        };
        let shapes: Vec<Shape> = [make(a, None, Some(threshold)), make(t, Some(ServiceTier::Priority), None)]
            .into_iter()
            .filter(|s| {
                [s.input, s.output, s.cached_input, s.cache_write, s.cache_write_1h].iter().any(Option::is_some)
            })
            .collect();
        (Pricing { cache_write_1h: w1h, ..p }.with_shapes(shapes), threshold)
    })
}

fn any_tiered_usage() -> impl Strategy<Value = Usage> {
    let tier = prop_oneof![
        Just(None),
        Just(Some(ServiceTier::Standard)),
        Just(Some(ServiceTier::Flex)),
        Just(Some(ServiceTier::Priority))
    ];
    (any_usage(), 0i64..10_000_000, tier).prop_map(|(u, w1h, service_tier)| Usage {
        cache_write_1h_tokens: w1h,
        service_tier,
        ..u
    })
}

proptest! {
    /// With shapes too, the charge is the exact value at the prices of the shape the usage
    /// falls in (worked out here field by field: the long-context shape once the prompt is
    /// above its threshold, then the priority tier's for a priority call, then the base)
    /// times the multiplier, rounded up once; never below the provider cost; and the record's
    /// snapshot charges exactly the same.
    #[test]
    fn a_shaped_charge_is_the_shapes_price_times_the_multiplier_rounded_up_once(
        (p, threshold) in any_shaped_price(),
        u in any_tiered_usage(),
        ppm in PPM..=MAX_MULTIPLIER_PPM,
        fee in 0i64..NANO,
    ) {
        let prompt = u.input_tokens + u.cached_tokens + u.cache_write_tokens;
        let long = p.shapes().iter().find(|s| s.above.is_some() && prompt > threshold);
        let tier = p.shapes().iter().find(|s| s.service_tier.is_some() && u.service_tier == s.service_tier);
        let pick = |f: fn(&Shape) -> Option<i64>| long.and_then(f).or_else(|| tier.and_then(f));
        let input = pick(|s| s.input).unwrap_or(p.input);
        let output = pick(|s| s.output).unwrap_or(p.output);
        let cached = pick(|s| s.cached_input).or(p.cached_input).unwrap_or(input);
        let write = pick(|s| s.cache_write).or(p.cache_write).unwrap_or(input);
        let write_1h = pick(|s| s.cache_write_1h).or(p.cache_write_1h).unwrap_or(write);
        let w1h = u.cache_write_1h_tokens.min(u.cache_write_tokens);
        let exact_base = u.input_tokens as i128 * input as i128
            + u.output_tokens as i128 * output as i128
            + u.cached_tokens as i128 * cached as i128
            + (u.cache_write_tokens - w1h) as i128 * write as i128
            + w1h as i128 * write_1h as i128
            + (u.images as i128 * p.per_image as i128 + p.per_request as i128) * 1_000_000;
        let m = Markup { multiplier: Multiplier::from_ppm(ppm).unwrap(), request_fee: fee };
        let c = m.charge(&p, &u);
        let base_exact_up = (exact_base + 999_999) / 1_000_000;
        prop_assert_eq!(c.base as i128, base_exact_up, "the provider cost is the exact price rounded up once");
        let exact = exact_base * ppm as i128;
        let marked = (c.cost - fee) as i128;
        let scale = 1_000_000i128 * PPM as i128;
        prop_assert!(marked * scale >= exact, "not below the exact value");
        prop_assert!((marked - 1) * scale < exact || marked == 0, "rounded up once");
        prop_assert!(c.cost - fee >= c.base, "never below cost");
        let snapshot = p.for_usage(&u);
        prop_assert!(snapshot.shapes.is_none());
        prop_assert_eq!(m.charge(&snapshot, &u), c, "the record's snapshot charges what the call was charged");
        prop_assert_eq!(snapshot.applied.and_then(|a| a.above), long.and(Some(threshold)));
    }
}

#[test]
fn a_marked_up_list_marks_up_its_shapes() {
    let shape = Shape { above: Some(200_000), input: Some(NANO), cache_write_1h: Some(3), ..Shape::default() };
    let p = Pricing { input: 10, output: 20, cache_write_1h: Some(7), ..Pricing::default() }.with_shapes(vec![shape]);
    let e = Markup::resolve([&rule(Some("1.5"), Some(4))]).effective(&p);
    assert_eq!((e.input, e.output, e.cache_write_1h, e.per_request), (15, 30, Some(11), 4));
    assert_eq!(
        (e.shapes()[0].input, e.shapes()[0].cache_write_1h, e.shapes()[0].above),
        (Some(1_500_000_000), Some(5), Some(200_000))
    );
}
