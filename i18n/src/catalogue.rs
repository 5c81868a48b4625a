//! The catalogue itself. Add a message by adding one line group below; the
//! tests in `lib.rs` check that both languages exist and use the same
//! placeholders.

use crate::{Lang, fill};
use std::fmt;

macro_rules! catalogue {
    ($($id:ident = $key:literal { zh: $zh:literal, en: $en:literal })*) => {
        /// One user-facing message. `key()` is stable and machine-readable.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Msg { $($id,)* }

        impl Msg {
            /// Every message, for tests and catalogue exports.
            pub const ALL: &'static [Msg] = &[$(Msg::$id,)*];

            /// The stable dotted key, e.g. `auth.bad_signature`.
            pub fn key(self) -> &'static str {
                match self { $(Msg::$id => $key,)* }
            }

            /// The raw template in one language.
            pub fn template(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((Msg::$id, Lang::ZhCn) => $zh, (Msg::$id, Lang::En) => $en,)*
                }
            }
        }
    };
}

impl Msg {
    /// The message in `lang` with its `{name}` placeholders filled.
    pub fn render(self, lang: Lang, args: &[(&str, &dyn fmt::Display)]) -> String {
        fill(self.template(lang), args)
    }

    /// The message with no arguments.
    pub fn text(self, lang: Lang) -> String {
        self.render(lang, &[])
    }
}

catalogue! {
    // ---- authentication and authorisation -------------------------------
    AuthMissingHeader = "auth.missing_header" {
        zh: "缺少请求头 {header}：每个上报请求都必须签名（见 docs/protocol.md）",
        en: "missing header {header}: every ingest request must be signed (see docs/protocol.md)" }
    AuthUnknownKey = "auth.unknown_key" {
        zh: "未知的接入密钥 {key}：请用 `vitals keys create` 创建，或检查 SDK 配置",
        en: "unknown ingest key {key}: create one with `vitals keys create` or check the SDK configuration" }
    AuthRevokedKey = "auth.revoked_key" {
        zh: "接入密钥 {key} 已被吊销，请换用该应用的有效密钥",
        en: "ingest key {key} has been revoked; use an active key of this app" }
    AuthBadSignature = "auth.bad_signature" {
        zh: "签名校验失败：请求体或签名在传输中被改动，或使用了错误的密钥",
        en: "signature mismatch: the body or signature was altered in transit, or the wrong secret was used" }
    AuthBadTimestamp = "auth.bad_timestamp" {
        zh: "时间戳 {value} 无法解析：应为 Unix 秒",
        en: "timestamp {value} cannot be parsed: expected Unix seconds" }
    AuthStaleTimestamp = "auth.stale_timestamp" {
        zh: "请求时间戳与服务器相差 {skew} 秒，超过允许的 ±{max} 秒（请检查设备时钟）",
        en: "request timestamp is {skew} s away from server time, beyond the allowed ±{max} s (check the device clock)" }
    AuthReplayedNonce = "auth.replayed_nonce" {
        zh: "随机数 {nonce} 已被使用过：疑似重放请求，已拒绝",
        en: "nonce {nonce} was already used: rejected as a replayed request" }
    AuthAppMismatch = "auth.app_mismatch" {
        zh: "密钥属于应用 {key_app}，但批次声明的应用是 {batch_app}",
        en: "the key belongs to app {key_app} but the batch names app {batch_app}" }
    AuthMissingToken = "auth.missing_token" {
        zh: "缺少 API 令牌：请在 Authorization 头中使用 Bearer 令牌",
        en: "missing API token: send it as a Bearer token in the Authorization header" }
    AuthBadToken = "auth.bad_token" {
        zh: "API 令牌无效或已吊销",
        en: "the API token is invalid or revoked" }
    AuthForbidden = "auth.forbidden" {
        zh: "该令牌的角色 {role} 无权执行此操作（需要 {needed}）",
        en: "a token with role {role} may not do this (needs {needed})" }

    // ---- request shape and limits ----------------------------------------
    RequestTooLarge = "request.too_large" {
        zh: "请求体超过上限 {limit} 字节",
        en: "request body exceeds the limit of {limit} bytes" }
    RequestDecompressedTooLarge = "request.decompressed_too_large" {
        zh: "解压后的请求体超过上限 {limit} 字节",
        en: "decompressed body exceeds the limit of {limit} bytes" }
    RequestBadEncoding = "request.bad_encoding" {
        zh: "不支持的 Content-Encoding：{encoding}（支持 gzip、zstd、identity）",
        en: "unsupported Content-Encoding: {encoding} (supported: gzip, zstd, identity)" }
    RequestBadCompression = "request.bad_compression" {
        zh: "请求体无法解压：{reason}",
        en: "the body cannot be decompressed: {reason}" }
    RequestMalformed = "request.malformed" {
        zh: "请求体不是合法的批次 JSON，位置 {path}：{reason}",
        en: "the body is not a valid batch JSON at {path}: {reason}" }
    RequestInvalid = "request.invalid" {
        zh: "字段 {path} 无效：{reason}",
        en: "field {path} is invalid: {reason}" }
    RequestRateLimited = "request.rate_limited" {
        zh: "应用 {app} 超过上报速率限制，请在 {retry} 秒后重试",
        en: "app {app} is over its ingest rate limit; retry in {retry} s" }
    RequestSpoolFull = "request.spool_full" {
        zh: "服务暂时无法接收：本地缓冲已满（存储不可用），请在 {retry} 秒后重试",
        en: "temporarily unable to accept: the local spool is full (storage unavailable); retry in {retry} s" }
    RequestSpoolFailed = "request.spool_failed" {
        zh: "批次未能持久化，未被接收，请重试：{reason}",
        en: "the batch could not be made durable and was not accepted; retry: {reason}" }
    RequestNotFound = "request.not_found" {
        zh: "未找到 {what}",
        en: "{what} not found" }
    RequestInternal = "request.internal" {
        zh: "服务器内部错误：{reason}",
        en: "internal server error: {reason}" }
    RequestStoreUnavailable = "request.store_unavailable" {
        zh: "存储不可用：{reason}",
        en: "storage unavailable: {reason}" }

    // ---- validation reasons ----------------------------------------------
    ValUnsupportedVersion = "validate.unsupported_version" {
        zh: "不支持的协议版本 {version}（支持 {supported}）",
        en: "unsupported protocol version {version} (supported: {supported})" }
    ValTooManyEvents = "validate.too_many_events" {
        zh: "一个批次含 {count} 个事件，超过上限 {limit}",
        en: "a batch holds {count} events, more than the limit of {limit}" }
    ValNoEvents = "validate.no_events" {
        zh: "批次中没有事件",
        en: "the batch holds no events" }
    ValStringTooLong = "validate.string_too_long" {
        zh: "长度 {len} 超过上限 {limit}",
        en: "length {len} exceeds the limit of {limit}" }
    ValEmpty = "validate.empty" {
        zh: "不能为空",
        en: "must not be empty" }
    ValTooOld = "validate.too_old" {
        zh: "时间早于允许的迟到上限（{max_days} 天）",
        en: "older than the accepted lateness of {max_days} days" }
    ValInFuture = "validate.in_future" {
        zh: "时间比服务器时间晚 {skew} 秒，超过上限 {max} 秒",
        en: "{skew} s ahead of server time, beyond the limit of {max} s" }
    ValOutOfRange = "validate.out_of_range" {
        zh: "数值 {value} 超出范围 [{min}, {max}]",
        en: "value {value} is outside [{min}, {max}]" }
    ValBadId = "validate.bad_id" {
        zh: "只能包含字母、数字和 . _ - : 字符",
        en: "may only contain letters, digits and . _ - :" }
    ValTooManyItems = "validate.too_many_items" {
        zh: "含 {count} 项，超过上限 {limit}",
        en: "holds {count} items, more than the limit of {limit}" }
    ValSessionStatusOnStart = "validate.session_status_on_start" {
        zh: "会话开始事件不能带结束状态 {status}",
        en: "a session start cannot carry the end status {status}" }

    // ---- CLI ---------------------------------------------------------------
    CliServeListening = "cli.serve.listening" {
        zh: "vitals 已启动：{url}（遥测存储：{backend}）",
        en: "vitals is listening on {url} (telemetry store: {backend})" }
    CliDemoBanner = "cli.demo.banner" {
        zh: "vitals 演示已启动：{url}\n模拟设备正在上报数据（应用 {app}，存储：{backend}）。按 Ctrl-C 停止。",
        en: "vitals demo is running at {url}\nSimulated devices are reporting (app {app}, store: {backend}). Press Ctrl-C to stop." }
    CliDemoToken = "cli.demo.token" {
        zh: "API 令牌（管理员）：{token}\n已写入 {path}",
        en: "API token (admin): {token}\nwritten to {path}" }
    CliDemoSamples = "cli.demo.samples" {
        zh: "示例调用：",
        en: "Sample calls:" }
    CliMigrateDone = "cli.migrate.done" {
        zh: "{backend} 表结构已是最新（版本 {version}，本次应用 {applied} 个迁移）",
        en: "{backend} schema is up to date (version {version}, {applied} migrations applied now)" }
    CliKeyCreated = "cli.keys.created" {
        zh: "已为应用 {app} 创建接入密钥\n  key id：{key_id}\n  secret：{secret}\n请妥善保存 secret，它不会再次显示。",
        en: "ingest key created for app {app}\n  key id: {key_id}\n  secret: {secret}\nKeep the secret safe; it is not shown again." }
    CliKeyRevoked = "cli.keys.revoked" {
        zh: "密钥 {key_id} 已吊销",
        en: "key {key_id} revoked" }
    CliKeyNotFound = "cli.keys.not_found" {
        zh: "没有找到密钥 {key_id}",
        en: "no key {key_id}" }
    CliKeysNone = "cli.keys.none" {
        zh: "还没有接入密钥。用 `vitals keys create --app 应用名` 创建。",
        en: "no ingest keys yet. Create one with `vitals keys create --app NAME`." }
    CliKeysHeader = "cli.keys.header" {
        zh: "应用\t密钥 ID\t状态\t创建时间",
        en: "app\tkey id\tstatus\tcreated" }
    CliTokenCreated = "cli.tokens.created" {
        zh: "已创建 {role} 角色的 API 令牌：{token}",
        en: "API token with role {role} created: {token}" }
    CliSimulateReport = "cli.simulate.report" {
        zh: "模拟结束：发送 {sent} 个批次（{events} 个事件），接收 {accepted}，拒绝 {rejected}，重试 {retries}；用时 {secs} 秒，{rate} 事件/秒",
        en: "simulation done: {sent} batches sent ({events} events), {accepted} accepted, {rejected} rejected, {retries} retries; {secs} s, {rate} events/s" }
    CliUserErased = "cli.user.erased" {
        zh: "已删除用户 {pseudonym} 的数据（应用 {app}）",
        en: "data of user {pseudonym} erased (app {app})" }
    CliShuttingDown = "cli.shutting_down" {
        zh: "正在停止：等待缓冲中的数据写入存储……",
        en: "shutting down: draining the spool into the store…" }
}
