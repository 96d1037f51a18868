//! `image`: raster images (PNG, JPEG, GIF, WebP, BMP; sniffed from the
//! content, never SVG), uploaded through `POST /api/v1/files`. Behaves as
//! [`super::attachment`] otherwise.

use serde_json::Value;

use super::attachment::FileKind;
use super::config_schema;

/// Kind string of [`IMAGE`].
pub const KIND: &str = "image";

fn schema() -> &'static Value {
    config_schema!("image")
}

/// Raster images only.
pub const IMAGE: FileKind = FileKind::new(KIND, true, schema);
