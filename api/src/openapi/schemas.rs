//! Schemas of single values — texts, numbers, names, headers — with the
//! constraints the server enforces, for the DTOs' fields
//! (`#[schema(schema_with = …)]`), the query and header parameter types in
//! [`super::params`] and the path parameters of the handlers. Each is a type
//! implementing [`PartialSchema`], so a handler's `params(...)` can name it.

use utoipa::openapi::schema::{
    AllOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::patterns;

/// The longest title (`service::projects::rules`).
const TITLE_CHARS: usize = 200;

fn text(pattern: String, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
}

fn or_null(builder: ObjectBuilder, t: Type) -> ObjectBuilder {
    builder.schema_type(SchemaType::from_iter([t, Type::Null]))
}

fn done(builder: ObjectBuilder) -> RefOr<Schema> {
    RefOr::T(Schema::Object(builder.build()))
}

fn integer(format: KnownFormat, min: i64, max: i64, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(format)))
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
}

/// Declares unit types whose schema is the given expression.
macro_rules! schemas {
    ($($(#[$doc:meta])* $name:ident => $schema:expr;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $name {}
    )*};
}

const TITLE_TEXT: &str = "1–200 characters once leading and trailing whitespace is trimmed (it \
    is), no control characters.";

schemas! {
    /// A project title.
    Title => done(text(patterns::trimmed_text(TITLE_CHARS), TITLE_TEXT));
    /// An optional project title (`null` or absent: the default).
    TitleOrNull => done(or_null(text(patterns::trimmed_text(TITLE_CHARS), TITLE_TEXT), Type::String));
    /// A title in a query string: blank means none.
    TitleOrBlank => done(text(
        patterns::trimmed_text_or_blank(TITLE_CHARS),
        "Blank (the default title), or 1–200 characters once trimmed, no control characters.",
    ));
    /// A login's username.
    Username => done(text(patterns::required_text(), "Not blank, at most 64 characters, no control characters.")
        .max_length(Some(64)));
    /// A display name (`null` or absent: the username).
    DisplayNameOrNull => done(or_null(
        text(patterns::required_text(), "Not blank, at most 255 characters, no control characters.")
            .max_length(Some(255)),
        Type::String,
    ));
    /// A group's `external_id` or `name` in a login.
    GroupText => done(text(patterns::required_text(), "Not blank, at most 255 characters, no control characters.")
        .max_length(Some(255)));
    /// `teacher` or `student` (`null` or absent: `student`).
    RoleOrNull => done(or_null(ObjectBuilder::new(), Type::String)
        .enum_values(Some([
            serde_json::Value::from("teacher"),
            serde_json::Value::from("student"),
            serde_json::Value::Null,
        ]))
        .description(Some("`teacher` or `student`; default `student`.")));
    /// The home page's login form: groups, comma-separated.
    GroupList => done(text(
        patterns::comma_list(255),
        "Comma-separated class ids (each is also the class's name): each trimmed, blank ones \
         skipped, the others at most 255 characters without control characters; at most 200.",
    ));
    /// The home page's login form: a role.
    Role => done(ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["student", "teacher"]))
        .description(Some("`student` (default) or `teacher`.")));
    /// Assignment instructions or a feedback comment.
    MultilineText => done(text(
        patterns::multiline_text(),
        "At most 20000 characters; line breaks and tabs allowed, no other control characters; may be empty.",
    )
    .max_length(Some(20000)));
    /// A backpack item's name (may be empty).
    ItemName => done(text(patterns::optional_text(), "At most 255 characters, no control characters; may be empty.")
        .max_length(Some(255)));
    /// A backpack item's body, base64.
    Base64Body => done(text(
        patterns::base64(),
        "Base64 (standard alphabet, padded); a `data:…;base64,` prefix is allowed.",
    ));
    /// A backpack item's thumbnail: base64 of a JPEG or PNG image.
    Base64Image => done(text(
        patterns::image_base64(),
        "Base64 (standard alphabet, padded) of a JPEG or PNG image; a `data:…;base64,` prefix is allowed.",
    ));
    /// `limit` of a page.
    Limit => done(integer(KnownFormat::Int32, 1, 100, "Items per page, 1–100 (default 20)."));
    /// `cursor` of a page.
    Cursor => done(text(
        patterns::cursor(),
        "The `next_cursor` of the previous page: a number 0–9223372036854775807 (empty: the first page).",
    ));
    /// `offset` of the backpack.
    Offset => done(integer(KnownFormat::Int64, 0, i64::MAX, "Items to skip."));
    /// The id of a project, group, user or backpack item.
    Id => done(integer(KnownFormat::Int64, 1, i64::MAX, "A positive 64-bit id."));
    /// A project id in a query, as the Scratch editor sends it.
    AnyInt64 => done(integer(KnownFormat::Int64, i64::MIN, i64::MAX, "A project id."));
    /// A project version.
    Version => done(integer(KnownFormat::Int32, 1, i32::MAX.into(), "A project version (they start at 1)."));
    /// The version a save is based on (`null` or absent: say it with `If-Match`).
    VersionOrNull => done(or_null(
        integer(KnownFormat::Int32, 1, i32::MAX.into(), "The version you read; a stale one is 409."),
        Type::Integer,
    ));
    /// `If-Match` of a save.
    IfMatch => done(text(
        patterns::if_match(),
        "The version you read, as its ETag: `\"3\"` (also `W/\"3\"` or `3`); `*` counts as absent.",
    ));
    /// `Idempotency-Key` of a create.
    IdempotencyKey => done(text(
        patterns::idempotency_key(),
        "1–255 visible ASCII characters. A repeated request with the same key gets the first \
         one's response and creates nothing; the same key for another request is 400 \
         `idempotency_key_reused`.",
    ));
    /// An uploadable asset's name.
    UploadName => done(text(
        patterns::asset_name(service::assets::UPLOADABLE_EXTS),
        "`{md5}.{ext}`: the md5 (32 lowercase hex digits) of the bytes and an extension \
         (svg, png, jpg, jpeg, gif, bmp, wav, mp3, sprite3; any case).",
    ));
    /// A stored asset's name (backpacked scripts are `json`).
    AssetName => done(text(
        patterns::asset_name(&[
            "svg", "png", "jpg", "jpeg", "gif", "bmp", "wav", "mp3", "sprite3", "json",
        ]),
        "`{md5}.{ext}`: 32 lowercase hex digits and an extension (svg, png, jpg, jpeg, gif, \
         bmp, wav, mp3, sprite3, json; any case).",
    ));
    /// A redirect target on this site.
    LocalPath => done(text(
        r"^(/|/[!-$&-.0-\[\]-~][!-$&-\[\]-~]*)$".to_owned(),
        "A path on this site: one `/`, then visible ASCII without `\\`, at most 2000 \
         characters. (Percent-escapes are taken too while every decoding stays such a path.)",
    ).max_length(Some(2000)));
    /// Any text.
    AnyText => done(ObjectBuilder::new().schema_type(Type::String));
    /// A path segment (not empty).
    Segment => done(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)));
    /// A share set.
    GroupIds => RefOr::T(Schema::Array(
        ArrayBuilder::new()
            .items(integer(KnownFormat::Int64, i64::MIN, i64::MAX, "A group id."))
            .max_items(Some(200))
            .description(Some("At most 200 group ids; duplicates collapse."))
            .build(),
    ));
    /// A problem's `code`.
    ProblemCode => done(ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(service::Code::ALL.iter().map(|c| c.as_str())))
        .description(Some("Stable snake_case error code: branch on this.")));
    /// A Scratch project JSON: any object, stored byte for byte.
    ProjectJson => done(ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("The Scratch project JSON (an object), stored byte for byte.")));
    /// A Scratch project JSON, or `null` for "keep the body".
    ProjectJsonOrNull => done(or_null(ObjectBuilder::new(), Type::Object)
        .description(Some("The Scratch project JSON (an object); `null` or absent keeps the body.")));
    /// Raw bytes (an asset upload).
    Bytes => done(ObjectBuilder::new()
        .schema_type(Type::String)
        .content_media_type("application/octet-stream"));
    /// An HTML page.
    Html => done(ObjectBuilder::new().schema_type(Type::String));
}

/// What one `(type, mime)` pair of a backpack item may be.
fn item_kind(item_type: &str, mimes: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([item_type])),
        )
        .property(
            "mime",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(mimes.iter().copied())),
        )
}

/// `POST /api/v1/backpack` and `POST /backpack/{username}`: the pairs of
/// `type` and `mime` the server stores (`service::backpack`).
pub fn new_backpack_item() -> RefOr<Schema> {
    let kinds = OneOfBuilder::new()
        .item(item_kind(
            "costume",
            &["image/svg+xml", "image/png", "image/jpeg"],
        ))
        .item(item_kind(
            "sound",
            &[
                "audio/x-wav",
                "audio/wav",
                "audio/wave",
                "audio/mp3",
                "audio/mpeg",
            ],
        ))
        .item(item_kind("sprite", &["application/zip"]))
        .item(item_kind("script", &["application/json"]))
        .build();
    let fields = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["costume", "sound", "sprite", "script"])),
        )
        .required("type")
        .property("mime", ObjectBuilder::new().schema_type(Type::String))
        .required("mime")
        .property("name", ItemName::schema())
        .required("name")
        .property("body", Base64Body::schema())
        .required("body")
        .property("thumbnail", Base64Image::schema())
        .required("thumbnail")
        .build();
    RefOr::T(Schema::AllOf(
        AllOfBuilder::new()
            .item(fields)
            .item(Schema::OneOf(kinds))
            .description(Some(
                "A backpack item: body and thumbnail base64-encoded; they are stored as assets. \
                 `mime` must fit `type`.",
            ))
            .build(),
    ))
}
