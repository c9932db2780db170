//! Per-image prices by size and quality, as providers publish them for image generation
//! (DALL·E 3: 1024×1024 standard, 1792×1024 hd, ...). A price list's `image_prices` replace its
//! base `per_image` price for the images of a call whose size and quality they name; an entry
//! names a size, a quality or both, and the most specific entry that fits the call prices its
//! images (both named, then the size alone, then the quality alone); no entry fits: the base
//! `per_image`.
//!
//! A call's size and quality are what the provider's answer says (gpt-image answers name
//! them), else what the request asked for (`size`, `quality`); `auto`, or a value the gateway
//! does not know, is no size or quality, so only entries that leave it open fit. How many
//! images the call made is the answer's count (`data`), whatever `n` asked for.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::money::{Credits, format_credits};

/// The most image prices one price list may have (DALL·E 3 has six).
pub const MAX_IMAGE_PRICES: usize = 64;

/// The largest side an image size may name (pixels).
const MAX_SIDE: u32 = 100_000;

/// An image size in pixels, written `1024x1024` (width × height, as OpenAI's `size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageSize {
    pub width: u32,
    pub height: u32,
}

impl ImageSize {
    /// `1024x1024` (OpenAI's form) or `1024-x-1024` (LiteLLM's keys); anything else, `auto`
    /// included, is `None`.
    pub fn parse(text: &str) -> Option<ImageSize> {
        let t = text.trim().to_ascii_lowercase();
        let (w, h) = t.split_once("-x-").or_else(|| t.split_once('x'))?;
        let side = |s: &str| s.parse::<u32>().ok().filter(|n| (1..=MAX_SIDE).contains(n));
        Some(ImageSize { width: side(w)?, height: side(h)? })
    }

    pub fn pixels(self) -> i64 {
        i64::from(self.width) * i64::from(self.height)
    }
}

impl fmt::Display for ImageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl Serialize for ImageSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ImageSize::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("image size {text:?} is not WIDTHxHEIGHT (`1024x1024`)")))
    }
}

/// An image quality, as OpenAI's images API names them: DALL·E 3's `standard` and `hd`,
/// gpt-image's `low`, `medium` and `high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageQuality {
    Standard,
    Hd,
    Low,
    Medium,
    High,
}

impl ImageQuality {
    /// A request's or answer's `quality`; `auto` and unknown names are `None`.
    pub fn from_wire(name: &str) -> Option<ImageQuality> {
        match name {
            "standard" => Some(ImageQuality::Standard),
            "hd" => Some(ImageQuality::Hd),
            "low" => Some(ImageQuality::Low),
            "medium" => Some(ImageQuality::Medium),
            "high" => Some(ImageQuality::High),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImageQuality::Standard => "standard",
            ImageQuality::Hd => "hd",
            ImageQuality::Low => "low",
            ImageQuality::Medium => "medium",
            ImageQuality::High => "high",
        }
    }
}

/// The size and quality of a call's images, as far as they are known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<ImageSize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<ImageQuality>,
}

impl ImageSpec {
    /// The `size` and `quality` members of a request or answer body.
    pub fn of_body(v: &serde_json::Map<String, serde_json::Value>) -> ImageSpec {
        let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str);
        ImageSpec {
            size: text("size").and_then(ImageSize::parse),
            quality: text("quality").and_then(ImageQuality::from_wire),
        }
    }

    /// Each part from `self` when known, else from `other` (an answer's over a request's).
    pub fn or(self, other: ImageSpec) -> ImageSpec {
        ImageSpec { size: self.size.or(other.size), quality: self.quality.or(other.quality) }
    }

    pub fn is_empty(&self) -> bool {
        *self == ImageSpec::default()
    }
}

/// The price of one image of a size and/or quality, in nano-credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagePrice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<ImageSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<ImageQuality>,
    pub price: i64,
}

impl ImagePrice {
    fn fits(&self, spec: ImageSpec) -> bool {
        let size_ok = self.size.is_none() || self.size == spec.size;
        size_ok && (self.quality.is_none() || self.quality == spec.quality)
    }

    /// Whether the entry could price a call of `spec` once its unknown parts are known.
    fn may_fit(&self, spec: ImageSpec) -> bool {
        let size_ok = self.size.is_none() || spec.size.is_none() || self.size == spec.size;
        size_ok && (self.quality.is_none() || spec.quality.is_none() || self.quality == spec.quality)
    }

    /// Precedence among fitting entries: both named, then the size, then the quality.
    fn rank(&self) -> (bool, bool) {
        (self.size.is_some(), self.quality.is_some())
    }

    /// The API form: the price as a decimal credit string.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({"price": format_credits(self.price)});
        if let Some(s) = self.size {
            v["size"] = s.to_string().into();
        }
        if let Some(q) = self.quality {
            v["quality"] = q.as_str().into();
        }
        v
    }

    /// Which entry priced a call, for its record (`size`, `quality` as the entry names them).
    pub fn label(&self) -> ImageSpec {
        ImageSpec { size: self.size, quality: self.quality }
    }
}

/// The entry that prices the images of a call of `spec`, if one fits (see the module notes).
pub fn resolve(prices: &[ImagePrice], spec: ImageSpec) -> Option<&ImagePrice> {
    prices.iter().filter(|p| p.fits(spec)).max_by_key(|p| p.rank())
}

/// The most one image of a call of `spec` can cost once the answer says what it made: the
/// price that fits when size and quality are both known, else the highest of the base and
/// every entry that could fit. What a reservation holds per image.
pub fn bound(prices: &[ImagePrice], spec: ImageSpec, base: i64) -> i64 {
    if spec.size.is_some() && spec.quality.is_some() {
        return resolve(prices, spec).map_or(base, |p| p.price);
    }
    prices.iter().filter(|p| p.may_fit(spec)).map(|p| p.price).fold(base, i64::max)
}

/// Checks a price list's image prices: each names a size or a quality, none is negative, no
/// two name the same size and quality, at most [`MAX_IMAGE_PRICES`].
pub fn check(prices: &[ImagePrice]) -> Result<(), String> {
    if prices.len() > MAX_IMAGE_PRICES {
        return Err(format!("a price list may have at most {MAX_IMAGE_PRICES} image prices"));
    }
    for (i, p) in prices.iter().enumerate() {
        if p.size.is_none() && p.quality.is_none() {
            return Err("an image price names a `size` or a `quality` (the base price is `per_image`)".into());
        }
        if p.price < 0 {
            return Err("prices must not be negative".into());
        }
        if prices[..i].iter().any(|o| (o.size, o.quality) == (p.size, p.quality)) {
            return Err("two image prices name the same `size` and `quality`".into());
        }
    }
    Ok(())
}

/// The API form of an image price: the price in decimal credits, a number or a string.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagePriceInput {
    pub size: Option<ImageSize>,
    pub quality: Option<ImageQuality>,
    pub price: Credits,
}

impl ImagePriceInput {
    pub fn to_price(&self) -> ImagePrice {
        ImagePrice { size: self.size, quality: self.quality, price: self.price.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(w: u32, h: u32) -> Option<ImageSize> {
        Some(ImageSize { width: w, height: h })
    }

    /// DALL·E 3 as the catalog has it: the size alone is `standard` (LiteLLM's default
    /// quality), `hd` named; 0.04 / 0.08 / 0.08, hd 0.08 / 0.12 / 0.12.
    fn dalle3() -> Vec<ImagePrice> {
        let p = |s, q, price| ImagePrice { size: s, quality: q, price };
        let hd = Some(ImageQuality::Hd);
        vec![
            p(size(1024, 1024), None, 40_000_000),
            p(size(1024, 1792), None, 80_000_000),
            p(size(1792, 1024), None, 80_000_000),
            p(size(1024, 1024), hd, 80_000_000),
            p(size(1024, 1792), hd, 120_000_000),
            p(size(1792, 1024), hd, 120_000_000),
        ]
    }

    #[test]
    fn sizes_read_in_openais_and_litellms_forms() {
        assert_eq!(ImageSize::parse("1024x1792"), size(1024, 1792));
        assert_eq!(ImageSize::parse("1792-x-1024"), size(1792, 1024));
        assert_eq!(ImageSize::parse("1536X1024"), size(1536, 1024));
        for bad in ["auto", "", "x", "0x5", "1024", "1024x", "-1x5", "200000x1"] {
            assert_eq!(ImageSize::parse(bad), None, "{bad}");
        }
        assert_eq!(size(1024, 1024).unwrap().to_string(), "1024x1024");
        assert_eq!(ImageQuality::from_wire("hd"), Some(ImageQuality::Hd));
        assert_eq!(ImageQuality::from_wire("auto"), None);
    }

    #[test]
    fn the_most_specific_fitting_entry_prices_the_image() {
        let prices = dalle3();
        let spec = |s, q| ImageSpec { size: s, quality: q };
        let price = |s| resolve(&prices, s).map(|p| p.price);
        assert_eq!(price(spec(size(1024, 1024), Some(ImageQuality::Hd))), Some(80_000_000));
        assert_eq!(price(spec(size(1792, 1024), Some(ImageQuality::Standard))), Some(80_000_000));
        assert_eq!(price(spec(size(1792, 1024), None)), Some(80_000_000), "the size alone: standard");
        assert_eq!(price(spec(size(512, 512), Some(ImageQuality::Hd))), None, "no entry: the base price");
        assert_eq!(price(spec(None, Some(ImageQuality::Hd))), None, "an unknown size fits only open entries");
        // A quality-only entry is outranked by a size entry that fits.
        let mut more = prices.clone();
        more.push(ImagePrice { size: None, quality: Some(ImageQuality::Hd), price: 1 });
        assert_eq!(resolve(&more, spec(size(1024, 1792), Some(ImageQuality::Hd))).unwrap().price, 120_000_000);
        assert_eq!(resolve(&more, spec(size(640, 480), Some(ImageQuality::Hd))).unwrap().price, 1);
    }

    #[test]
    fn the_bound_is_the_most_an_image_may_cost_once_the_answer_is_known() {
        let prices = dalle3();
        let hd = Some(ImageQuality::Hd);
        assert_eq!(bound(&prices, ImageSpec { size: size(1024, 1024), quality: hd }, 7), 80_000_000);
        assert_eq!(bound(&prices, ImageSpec { size: size(64, 64), quality: hd }, 7), 7, "nothing fits: base");
        assert_eq!(bound(&prices, ImageSpec { size: size(1024, 1024), quality: None }, 7), 80_000_000);
        assert_eq!(bound(&prices, ImageSpec::default(), 7), 120_000_000);
        assert_eq!(bound(&[], ImageSpec::default(), 7), 7);
    }

    #[test]
    fn image_prices_are_checked() {
        assert!(check(&dalle3()).is_ok());
        let p = |s, q, price| ImagePrice { size: s, quality: q, price };
        assert!(check(&[p(None, None, 1)]).unwrap_err().contains("names a `size` or a `quality`"));
        assert!(check(&[p(size(1, 1), None, -1)]).unwrap_err().contains("negative"));
        assert!(check(&[p(size(1, 1), None, 1), p(size(1, 1), None, 2)]).unwrap_err().contains("same"));
        assert!(check(&vec![p(size(1, 1), None, 1); MAX_IMAGE_PRICES + 1]).unwrap_err().contains("at most"));
        let input: ImagePriceInput =
            serde_json::from_str(r#"{"size": "1024x1024", "quality": "hd", "price": "0.08"}"#).unwrap();
        assert_eq!(input.to_price(), p(size(1024, 1024), Some(ImageQuality::Hd), 80_000_000));
        assert_eq!(
            input.to_price().to_json(),
            serde_json::json!({"size": "1024x1024", "quality": "hd", "price": "0.08"})
        );
        for bad in [r#"{"size": "big", "price": 1}"#, r#"{"quality": "ultra", "price": 1}"#, r#"{"size": "1x1"}"#] {
            assert!(serde_json::from_str::<ImagePriceInput>(bad).is_err(), "{bad}");
        }
    }
}
