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
        zh: "不支持的 Content-Encoding：{encoding}（支持 gzip、deflate、br、zstd、identity）",
        en: "unsupported Content-Encoding: {encoding} (supported: gzip, deflate, br, zstd, identity)" }
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
        zh: "存储暂时不可用，请稍后重试（原因已记入服务器日志）",
        en: "storage is unavailable; try again later (the cause is in the server log)" }
    RequestShardUnavailable = "request.shard_unavailable" {
        zh: "ClickHouse 分片 {shard} 无法连接：结果会缺少该分片的数据，因此不予显示。数据仍在接收（暂存于本节点队列），分片恢复后自动写入。",
        en: "ClickHouse shard {shard} is unreachable: results would lack its data, so none are shown. Ingestion continues (queued on this node) and resumes writing once the shard is back." }

    // ---- dashboard (web/) ----------------------------------------------------
    WebAction = "web.action" { zh: "操作", en: "Action" }
    WebActivateEmergency = "web.activate_emergency" { zh: "启用应急版本指令", en: "Activate an emergency directive" }
    WebActiveDirectives = "web.active_directives" { zh: "生效中的应急指令", en: "Active emergency directives" }
    WebActiveUsers = "web.active_users" { zh: "活跃用户", en: "Active users" }
    WebActor = "web.actor" { zh: "操作人", en: "Actor" }
    WebAddress = "web.address" { zh: "地址", en: "Address" }
    WebAddresses = "web.addresses" { zh: "地址", en: "Addresses" }
    WebAdoption = "web.adoption" { zh: "版本占比", en: "Adoption" }
    WebAfter = "web.after" { zh: "变更后", en: "After" }
    WebAlertHistory = "web.alert_history" { zh: "告警历史", en: "Alert history" }
    WebAlertRules = "web.alert_rules" { zh: "告警规则", en: "Alert rules" }
    WebAlertsTitle = "web.alerts_title" { zh: "告警", en: "Alerts" }
    WebAll = "web.all" { zh: "全部", en: "All" }
    WebApp = "web.app" { zh: "应用", en: "App" }
    WebAppNav = "web.app_nav" { zh: "应用 {app} 的页面", en: "Pages of app {app}" }
    WebApply = "web.apply" { zh: "应用筛选", en: "Apply" }
    WebApprove = "web.approve" { zh: "批准", en: "Approve" }
    WebApprovedBy = "web.approved_by" { zh: "批准人", en: "Approved by" }
    WebAuditLog = "web.audit_log" { zh: "审计日志", en: "Audit log" }
    WebBackToList = "web.back_to_list" { zh: "返回崩溃分组列表", en: "Back to the crash groups" }
    WebBackToOverview = "web.back_to_overview" { zh: "返回总览", en: "Back to the overview" }
    WebBefore = "web.before" { zh: "变更前", en: "Before" }
    WebBetter = "web.better" { zh: "变好", en: "better" }
    WebBin = "web.bin" { zh: "区间", en: "Bin" }
    WebBy = "web.by" { zh: "操作人", en: "By" }
    WebByModel = "web.by_model" { zh: "按机型", en: "By device model" }
    WebByOs = "web.by_os" { zh: "按操作系统", en: "By OS" }
    WebCategory = "web.category" { zh: "业务类别", en: "Category" }
    WebCategorySite = "web.category_site" { zh: "类别 · 站点 · IP 协议", en: "Category · site · IP family" }
    WebCell = "web.cell" { zh: "单元", en: "Cell" }
    WebCellHealthy = "web.cell_healthy" { zh: "已覆盖且健康", en: "observed, healthy" }
    WebCellUnhealthy = "web.cell_unhealthy" { zh: "已覆盖但崩溃率超标", en: "observed, crash rate too high" }
    WebCellUntested = "web.cell_untested" { zh: "未覆盖（样本不足）", en: "untested (too few sessions)" }
    WebChange = "web.change" { zh: "变化", en: "Change" }
    WebChanged = "web.changed" { zh: "有变化", en: "changed" }
    WebChartActiveUsers = "web.chart_active_users" { zh: "每日活跃用户", en: "Active users per day" }
    WebChartAdoption = "web.chart_adoption" { zh: "每日版本占比（本版本用户 ÷ 全部用户）", en: "Adoption per day (users of this release ÷ all users)" }
    WebChartColdStart = "web.chart_cold_start" { zh: "冷启动耗时分布", en: "Cold-start time distribution" }
    WebChartColdStartByModel = "web.chart_cold_start_by_model" { zh: "各机型冷启动 p90（最慢 15 个）", en: "Cold-start p90 by device model (slowest 15)" }
    WebChartCpu = "web.chart_cpu" { zh: "CPU 占用分布", en: "CPU usage distribution" }
    WebChartCrashRate = "web.chart_crash_rate" { zh: "每日崩溃率（按会话、按用户）", en: "Crash rate per day (per session, per user)" }
    WebChartFunnel = "web.chart_funnel" { zh: "热更新 {patch} 的漏斗", en: "Funnel of hot update {patch}" }
    WebChartInstall = "web.chart_install" { zh: "各机型平均安装耗时", en: "Mean install time by device model" }
    WebChartLatency = "web.chart_latency" { zh: "各业务类别与站点的服务端响应时间 p90", en: "Server response time p90 by category and site" }
    WebChartMatrix = "web.chart_matrix" { zh: "兼容性矩阵（条款 5.2）", en: "Compatibility matrix (clause 5.2)" }
    WebChartMemory = "web.chart_memory" { zh: "内存占用分布", en: "Memory usage distribution" }
    WebChartPackage = "web.chart_package" { zh: "各平台 / ABI 安装包大小", en: "Package size per platform / ABI" }
    WebClause = "web.clause" { zh: "条款", en: "Clause" }
    WebClauseVerdicts = "web.clause_verdicts" { zh: "各条款结论", en: "Verdict per clause" }
    WebClearDirective = "web.clear_directive" { zh: "撤销该指令", en: "Clear this directive" }
    WebClientConfig = "web.client_config" { zh: "客户端配置（设备实际收到的内容）", en: "Client config (as devices receive it)" }
    WebClientErrors = "web.client_errors" { zh: "客户端错误率", en: "Client error rate" }
    WebComparison = "web.comparison" { zh: "与上一版本对比", en: "Comparison with the previous release" }
    WebCompatTitle = "web.compat_title" { zh: "兼容性", en: "Compatibility" }
    WebConfirmCheck = "web.confirm_check" { zh: "我已核对此操作及其影响范围", en: "I have checked this action and whom it affects" }
    WebConfirmMissing = "web.confirm_missing" { zh: "请先勾选确认框再提交", en: "tick the confirmation box before submitting" }
    WebConfirmPrompt = "web.confirm_prompt" { zh: "确定要修改该崩溃分组的状态吗？", en: "Change the state of this crash group?" }
    WebConfirmShort = "web.confirm_short" { zh: "确认", en: "Confirm" }
    WebCount = "web.count" { zh: "数量", en: "Count" }
    WebCoverageSummary = "web.coverage_summary" { zh: "{total} 个必测单元中 {healthy} 个已覆盖且健康", en: "{healthy} of {total} required cells observed and healthy" }
    WebCrashGroupsTitle = "web.crash_groups_title" { zh: "崩溃分组", en: "Crash groups" }
    WebCrashedSessions = "web.crashed_sessions" { zh: "崩溃会话", en: "Crashed sessions" }
    WebCrashedThread = "web.crashed_thread" { zh: "崩溃线程", en: "crashed thread" }
    WebCsrfFailed = "web.csrf_failed" { zh: "请求被拒绝：表单令牌或来源校验失败，请刷新页面后重试", en: "request refused: the form token or origin check failed; reload the page and try again" }
    WebDay = "web.day" { zh: "日期", en: "Day" }
    WebDays = "web.days" { zh: "{n} 天", en: "{n} days" }
    WebDecision = "web.decision" { zh: "处理", en: "Decision" }
    WebDecisionGo = "web.decision_go" { zh: "可以发布", en: "Go" }
    WebDecisionInsufficient = "web.decision_insufficient" { zh: "数据不足", en: "Insufficient data" }
    WebDecisionNoGo = "web.decision_no_go" { zh: "禁止发布", en: "No-go" }
    WebDelete = "web.delete" { zh: "删除", en: "Delete" }
    WebDevices = "web.devices" { zh: "设备数", en: "Devices" }
    WebDisabled = "web.disabled" { zh: "已关闭", en: "off" }
    WebDoneApplied = "web.done_applied" { zh: "操作已执行并记入审计日志。", en: "The action was applied and recorded in the audit log." }
    WebDoneApproved = "web.done_approved" { zh: "已批准：操作已执行并记入审计日志。", en: "Approved: the action was applied and recorded in the audit log." }
    WebDonePending = "web.done_pending" { zh: "操作已提交，等待另一位运维人员批准。", en: "The action was submitted and awaits a second operator's approval." }
    WebDoneRejected = "web.done_rejected" { zh: "已驳回该操作。", en: "The action was rejected." }
    WebDrainSite = "web.drain_site" { zh: "摘除该站点", en: "Drain this site" }
    WebDrained = "web.drained" { zh: "已摘除", en: "drained" }
    WebEmergencyTitle = "web.emergency_title" { zh: "应急处置", en: "Emergency" }
    WebEnabled = "web.enabled" { zh: "已开启", en: "on" }
    WebErrorTitle = "web.error_title" { zh: "出错了", en: "Error" }
    WebEvent = "web.event" { zh: "事件", en: "Event" }
    WebEvents = "web.events" { zh: "次数", en: "Events" }
    WebEvidence = "web.evidence" { zh: "依据", en: "Evidence" }
    WebException = "web.exception" { zh: "异常", en: "Exception" }
    WebFatalCrashes = "web.fatal_crashes" { zh: "致命崩溃", en: "Fatal crashes" }
    WebFeature = "web.feature" { zh: "功能", en: "Feature" }
    WebFilters = "web.filters" { zh: "筛选", en: "Filters" }
    WebFingerprint = "web.fingerprint" { zh: "指纹", en: "Fingerprint" }
    WebFirstRelease = "web.first_release" { zh: "首次出现版本", en: "First release" }
    WebFirstSeen = "web.first_seen" { zh: "首次出现", en: "First seen" }
    WebFontSize = "web.font_size" { zh: "字号", en: "Font size" }
    WebFontSizeN = "web.font_size_n" { zh: "字号 {n}%", en: "font size {n}%" }
    WebFunction = "web.function" { zh: "函数", en: "Function" }
    WebGroupsSummary = "web.groups_summary" { zh: "共 {n} 个分组，其中 {urgent} 个紧急（影响用户超过 {share}）；本版本活跃用户 {users}。", en: "{n} groups, {urgent} urgent (affecting more than {share} of users); {users} active users in this release." }
    WebHealth = "web.health" { zh: "健康状况", en: "Health" }
    WebIgnore = "web.ignore" { zh: "忽略", en: "Ignore" }
    WebInApp = "web.in_app" { zh: "应用代码", en: "in app" }
    WebInlined = "web.inlined" { zh: "内联", en: "inlined" }
    WebInstalls = "web.installs" { zh: "安装数", en: "Installs" }
    WebInterval = "web.interval" { zh: "95% 置信区间", en: "95% interval" }
    WebIpSplit = "web.ip_split" { zh: "IPv4 / IPv6（条款 5.2d）", en: "IPv4 / IPv6 (clause 5.2d)" }
    WebKillSwitches = "web.kill_switches" { zh: "功能开关", en: "Kill switches" }
    WebKind = "web.kind" { zh: "类型", en: "Kind" }
    WebLastSeen = "web.last_seen" { zh: "最近出现", en: "Last seen" }
    WebLatencyLines = "web.latency_lines" { zh: "虚线：交易 300 ms、行情 100 ms、总线 500 ms", en: "dashed: trade 300 ms, quote 100 ms, bus 500 ms" }
    WebLatestRelease = "web.latest_release" { zh: "最新版本", en: "Latest release" }
    WebLegendCells = "web.legend_cells" { zh: "✓ 已覆盖且健康　✗ 已覆盖但崩溃率超标　– 未覆盖", en: "✓ observed and healthy   ✗ observed, crash rate too high   – untested" }
    WebLifecycle = "web.lifecycle" { zh: "处理状态", en: "Lifecycle" }
    WebLocation = "web.location" { zh: "位置", en: "Location" }
    WebLoginButton = "web.login_button" { zh: "登录", en: "Sign in" }
    WebLoginFailed = "web.login_failed" { zh: "用户名或密码错误，或账号已停用", en: "wrong user name or password, or the account is disabled" }
    WebLoginRequired = "web.login_required" { zh: "请先登录", en: "please sign in" }
    WebLoginThrottled = "web.login_throttled" { zh: "登录失败次数过多，请在 {retry} 秒后重试", en: "too many failed sign-ins; try again in {retry} s" }
    WebLoginBusy = "web.login_busy" { zh: "登录请求过多，请在 {retry} 秒后重试", en: "too many sign-ins at once; try again in {retry} s" }
    WebLoginTitle = "web.login_title" { zh: "登录 vitals 运维看板", en: "Sign in to the vitals dashboard" }
    WebLogout = "web.logout" { zh: "退出登录", en: "Sign out" }
    WebMainNav = "web.main_nav" { zh: "主导航", en: "Main navigation" }
    WebMean = "web.mean" { zh: "平均值", en: "Mean" }
    WebMerge = "web.merge" { zh: "合并", en: "Merge" }
    WebMergeIntoLabel = "web.merge_into_label" { zh: "合并到分组（指纹）", en: "Merge into group (fingerprint)" }
    WebMergedInto = "web.merged_into" { zh: "已合并到 {group}", en: "merged into {group}" }
    WebMetric = "web.metric" { zh: "指标", en: "Metric" }
    WebMissing = "web.missing" { zh: "缺失", en: "missing" }
    WebMissingDebugFiles = "web.missing_debug_files" { zh: "缺失的调试符号文件", en: "Missing debug files" }
    WebMode = "web.mode" { zh: "执行方式", en: "Mode" }
    WebModeApproval = "web.mode_approval" { zh: "双人复核（需另一位运维人员批准）", en: "two-person (a second operator approves)" }
    WebModeAutomatic = "web.mode_automatic" { zh: "立即执行", en: "apply at once" }
    WebModel = "web.model" { zh: "机型", en: "Device model" }
    WebNavAlerts = "web.nav_alerts" { zh: "告警", en: "Alerts" }
    WebNavOverview = "web.nav_overview" { zh: "总览", en: "Overview" }
    WebNeedsOtherOperator = "web.needs_other_operator" { zh: "需由另一位运维人员批准", en: "needs another operator" }
    WebNoAlerts = "web.no_alerts" { zh: "暂无告警", en: "no alerts" }
    WebNoControl = "web.no_control" { zh: "控制面服务未运行：只能查看，不能操作", en: "the control plane is not running: read-only" }
    WebNoData = "web.no_data" { zh: "暂无数据", en: "no data yet" }
    WebNoDirectives = "web.no_directives" { zh: "无生效中的应急指令", en: "no active directive" }
    WebNoGroups = "web.no_groups" { zh: "没有崩溃分组", en: "no crash groups" }
    WebNoPatches = "web.no_patches" { zh: "该版本没有热更新数据", en: "no hot-update data for this release" }
    WebNoPending = "web.no_pending" { zh: "没有待批准的操作", en: "nothing awaits approval" }
    WebNoPrevious = "web.no_previous" { zh: "没有更早的版本可供对比", en: "no earlier release to compare with" }
    WebNoRules = "web.no_rules" { zh: "尚未配置告警规则", en: "no alert rules configured" }
    WebNoStack = "web.no_stack" { zh: "该崩溃没有堆栈信息", en: "this crash has no stack" }
    WebNoUrgentGroups = "web.no_urgent_groups" { zh: "✓ 没有未解决的紧急崩溃分组", en: "✓ no open urgent crash groups" }
    WebNone = "web.none" { zh: "无", en: "none" }
    WebNoneMissing = "web.none_missing" { zh: "✓ 无缺失", en: "✓ none missing" }
    WebNotUrgent = "web.not_urgent" { zh: "一般", en: "normal" }
    WebObject = "web.object" { zh: "对象", en: "Object" }
    WebOsMajor = "web.os_major" { zh: "系统主版本", en: "OS major" }
    WebOverLimit = "web.over_limit" { zh: "超标", en: "over the limit" }
    WebOverviewTitle = "web.overview_title" { zh: "总览", en: "Overview" }
    WebPackageSize = "web.package_size" { zh: "包大小", en: "Package size" }
    WebPassword = "web.password" { zh: "密码", en: "Password" }
    WebPause = "web.pause" { zh: "暂停", en: "Pause" }
    WebPendingApprovals = "web.pending_approvals" { zh: "待批准的操作", en: "Pending approvals" }
    WebPercent = "web.percent" { zh: "比例", en: "Percent" }
    WebPerfTitle = "web.perf_title" { zh: "性能", en: "Performance" }
    WebPlatform = "web.platform" { zh: "平台", en: "Platform" }
    WebPrefs = "web.prefs" { zh: "显示设置", en: "Display settings" }
    WebReadOnly = "web.read_only" { zh: "您的角色为只读，不能执行操作", en: "your role is read-only: no actions" }
    WebReason = "web.reason" { zh: "原因", en: "Reason" }
    WebRecentAlerts = "web.recent_alerts" { zh: "最近告警", en: "Recent alerts" }
    WebRecipients = "web.recipients" { zh: "接收人", en: "Recipients" }
    WebReject = "web.reject" { zh: "驳回", en: "Reject" }
    WebRelease = "web.release" { zh: "版本", en: "Release" }
    WebReleases = "web.releases" { zh: "版本", en: "Releases" }
    WebReopen = "web.reopen" { zh: "重新打开", en: "Reopen" }
    WebRequestedBy = "web.requested_by" { zh: "申请人", en: "Requested by" }
    WebResolve = "web.resolve" { zh: "标记为已解决", en: "Mark resolved" }
    WebResolvedIn = "web.resolved_in" { zh: "于 {release} 解决", en: "resolved in {release}" }
    WebResolvedInLabel = "web.resolved_in_label" { zh: "在哪个版本中修复", en: "Fixed in release" }
    WebRestoreSite = "web.restore_site" { zh: "恢复该站点", en: "Restore this site" }
    WebResume = "web.resume" { zh: "恢复", en: "Resume" }
    WebRoleAdmin = "web.role_admin" { zh: "管理员", en: "admin" }
    WebRoleOperator = "web.role_operator" { zh: "运维人员", en: "operator" }
    WebRoleViewer = "web.role_viewer" { zh: "只读", en: "viewer" }
    WebRollback = "web.rollback" { zh: "回滚", en: "Roll back" }
    WebRolloutControls = "web.rollout_controls" { zh: "灰度控制", en: "Rollout controls" }
    WebRollouts = "web.rollouts" { zh: "灰度发布", en: "Rollouts" }
    WebRule = "web.rule" { zh: "规则", en: "Rule" }
    WebRuleId = "web.rule_id" { zh: "规则", en: "Rule" }
    WebSample = "web.sample" { zh: "样本", en: "Sample" }
    WebSchedule = "web.schedule" { zh: "计划", en: "Schedule" }
    WebScorecard = "web.scorecard" { zh: "条款评分卡", en: "Clause scorecard" }
    WebSeeCrashGroups = "web.see_crash_groups" { zh: "查看该版本的崩溃分组 →", en: "See this release's crash groups →" }
    WebSeries = "web.series" { zh: "对象", en: "Series" }
    WebSessions = "web.sessions" { zh: "会话数", en: "Sessions" }
    WebSetKillSwitch = "web.set_kill_switch" { zh: "设置功能开关", en: "Set a kill switch" }
    WebShare = "web.share" { zh: "影响用户占比", en: "User share" }
    WebSiteDown = "web.site_down" { zh: "✗ 不可用", en: "✗ down" }
    WebSiteUnknown = "web.site_unknown" { zh: "? 未知", en: "? unknown" }
    WebSiteUp = "web.site_up" { zh: "✓ 正常", en: "✓ up" }
    WebSites = "web.sites" { zh: "服务站点", en: "Sites" }
    WebSkipToContent = "web.skip_to_content" { zh: "跳到主要内容", en: "Skip to the main content" }
    WebSortedByUrgency = "web.sorted_by_urgency" { zh: "按影响用户数排序，超过 0.01% 为紧急（条款 5.1b）", en: "sorted by affected users; above 0.01% is urgent (clause 5.1b)" }
    WebStack = "web.stack" { zh: "堆栈", en: "Stack" }
    WebStage = "web.stage" { zh: "阶段", en: "Stage" }
    WebStageApplied = "web.stage_applied" { zh: "已生效", en: "applied" }
    WebStageDownloaded = "web.stage_downloaded" { zh: "已下载", en: "downloaded" }
    WebStageFailed = "web.stage_failed" { zh: "失败", en: "failed" }
    WebStageOffered = "web.stage_offered" { zh: "已下发", en: "offered" }
    WebStageRolledBack = "web.stage_rolled_back" { zh: "已回滚", en: "rolled back" }
    WebState = "web.state" { zh: "状态", en: "State" }
    WebStateIgnored = "web.state_ignored" { zh: "已忽略", en: "ignored" }
    WebStateMerged = "web.state_merged" { zh: "已合并", en: "merged" }
    WebStateNew = "web.state_new" { zh: "新问题", en: "new" }
    WebStateOpen = "web.state_open" { zh: "未解决", en: "open" }
    WebStateRegressed = "web.state_regressed" { zh: "已回归", en: "regressed" }
    WebStateResolved = "web.state_resolved" { zh: "已解决", en: "resolved" }
    WebTabCompat = "web.tab_compat" { zh: "兼容性", en: "Compatibility" }
    WebTabCrashes = "web.tab_crashes" { zh: "崩溃", en: "Crashes" }
    WebTabEmergency = "web.tab_emergency" { zh: "应急处置", en: "Emergency" }
    WebTabPerf = "web.tab_perf" { zh: "性能", en: "Performance" }
    WebTabRelease = "web.tab_release" { zh: "版本健康", en: "Release health" }
    WebTabUpdates = "web.tab_updates" { zh: "热更新", en: "Updates" }
    WebTableOf = "web.table_of" { zh: "{chart}（表格）", en: "{chart} (table)" }
    WebTargetVersion = "web.target_version" { zh: "目标版本", en: "Target version" }
    WebTheme = "web.theme" { zh: "主题", en: "Theme" }
    WebThemeDark = "web.theme_dark" { zh: "高对比度深色", en: "high-contrast dark" }
    WebThemeLight = "web.theme_light" { zh: "高对比度浅色", en: "high-contrast light" }
    WebThread = "web.thread" { zh: "线程", en: "Thread" }
    WebThreshold = "web.threshold" { zh: "阈值", en: "Threshold" }
    WebThresholdLine = "web.threshold_line" { zh: "阈值 {value}", en: "threshold {value}" }
    WebTimezoneNote = "web.timezone_note" { zh: "所有时间均为 {tz} 时间", en: "All times are in {tz}" }
    WebUnchanged = "web.unchanged" { zh: "无变化", en: "unchanged" }
    WebUnsymbolicated = "web.unsymbolicated" { zh: "（未符号化）", en: "(not symbolicated)" }
    WebUpdateTargets = "web.update_targets" { zh: "目标：送达率 ≥ {delivery}，成功率 ≥ {success}（条款 5.4e）", en: "targets: delivery ≥ {delivery}, success ≥ {success} (clause 5.4e)" }
    WebUpdatesTitle = "web.updates_title" { zh: "热更新", en: "Updates" }
    WebUpgradePrompts = "web.upgrade_prompts" { zh: "应用内升级提示（5.4b）", en: "In-app upgrade prompts (5.4b)" }
    WebUpgradeTarget = "web.upgrade_target" { zh: "目标：旧版本用户中看到升级到最新版本提示的比例 ≥ {share}", en: "target: ≥ {share} of an older release's users shown a prompt to upgrade to the newest version" }
    WebNewestVersion = "web.newest_version" { zh: "最新版本", en: "Newest version" }
    WebOutSince = "web.out_since" { zh: "发布时间", en: "Out since" }
    WebUsersDue = "web.users_due" { zh: "应提示用户", en: "Users due" }
    WebUsersPrompted = "web.users_prompted" { zh: "已提示用户", en: "Users prompted" }
    WebPromptShare = "web.prompt_share" { zh: "提示覆盖率", en: "Prompted share" }
    WebPromptAccepted = "web.prompt_accepted" { zh: "接受", en: "Accepted" }
    WebPromptDeclined = "web.prompt_declined" { zh: "拒绝", en: "Declined" }
    WebPromptLater = "web.prompt_later" { zh: "稍后提醒", en: "Later" }
    WebStalePrompts = "web.stale_prompts" { zh: "提示旧版本次数", en: "Prompts for an older version" }
    WebUrgency = "web.urgency" { zh: "紧急程度", en: "Urgency" }
    WebUrgent = "web.urgent" { zh: "紧急", en: "urgent" }
    WebUrgentGroups = "web.urgent_groups" { zh: "未解决的紧急崩溃分组", en: "Open urgent crash groups" }
    WebUserMessage = "web.user_message" { zh: "给用户的提示", en: "Message to users" }
    WebUserName = "web.user_name" { zh: "用户名", en: "User name" }
    WebUsers = "web.users" { zh: "用户数", en: "Users" }
    WebValue = "web.value" { zh: "数值", en: "Value" }
    WebVerdict = "web.verdict" { zh: "结论", en: "Verdict" }
    WebVersion = "web.version" { zh: "版本号", en: "Version" }
    WebVersionsBelow = "web.versions_below" { zh: "适用于低于此版本（留空为全部）", en: "Applies below version (empty = all)" }
    WebWhen = "web.when" { zh: "时间", en: "When" }
    WebWindow = "web.window" { zh: "统计窗口", en: "Window" }
    WebWorse = "web.worse" { zh: "变差", en: "worse" }
    CliNoData = "cli.no_data" { zh: "数据目录 {dir} 中没有数据：请用 --data-dir 指定服务使用的数据目录，或用 --url 和 --token 询问运行中的服务", en: "no data in the data directory {dir}: name the server's data directory with --data-dir, or ask a running server with --url and --token" }
    CliNoControlPlane = "cli.no_control_plane" { zh: "数据目录 {dir} 中没有控制面数据库：请用 --data-dir 指定服务使用的数据目录，或在 --config 中给出 [control_plane] url", en: "no control plane in the data directory {dir}: name the server's data directory with --data-dir, or its [control_plane] url in --config" }
    CliRemoteFailed = "cli.remote_failed" { zh: "服务 {url} 返回 {status}：{message}", en: "the server at {url} answered {status}: {message}" }
    CliRemoteUnreachable = "cli.remote_unreachable" { zh: "无法连接服务 {url}：{reason}", en: "cannot reach the server at {url}: {reason}" }
    CliUserCreated = "cli.user_created" { zh: "已创建看板用户 {name}（角色 {role}）", en: "created dashboard user {name} (role {role})" }
    CliUserPasswordPrompt = "cli.user_password_prompt" { zh: "请从标准输入提供密码（至少 {min} 个字符）", en: "give the password on standard input (at least {min} characters)" }
    CliUserPasswordShort = "cli.user_password_short" { zh: "密码太短：至少需要 {min} 个字符", en: "the password is too short: it needs at least {min} characters" }
    CliUserPasswordHasName = "cli.user_password_has_name" { zh: "密码不能包含用户名", en: "the password must not contain the user name" }
    CliUserPasswordCommon = "cli.user_password_common" { zh: "该密码属于最常见的密码之一，请换一个", en: "this password is one of the most common ones; choose another" }
    CliDemoUsers = "cli.demo_users" { zh: "运维看板：{url}/ui/ ，演示账号（用户名 / 密码 / 角色；密码每次启动重新生成，仅在此显示一次，不以明文保存）：", en: "Dashboard: {url}/ui/ — demo accounts (name / password / role; new passwords at every start, shown only here, never stored in clear):" }

    // ---- Sentry protocol -----------------------------------------------------
    SentryProjectMismatch = "sentry.project_mismatch" {
        zh: "DSN 密钥 {key} 不属于项目 {project}：请检查 DSN 末尾的项目编号（`vitals sentry show --app 应用` 会打印完整 DSN；升级前的项目编号已作废）",
        en: "DSN key {key} does not belong to project {project}: check the project number at the end of the DSN (`vitals sentry show --app APP` prints the full DSN; project numbers from before the upgrade no longer work)" }
    SentryIntakeDisabled = "sentry.intake_disabled" {
        zh: "应用 {app} 未开启 Sentry 协议接入：管理员运行 `vitals sentry enable --app {app}`（或 PUT /api/v1/apps/{app}/sentry，enabled 设为 true）开启后，把它显示的 DSN 配置到 SDK 中",
        en: "Sentry-protocol intake is off for app {app}: an admin turns it on with `vitals sentry enable --app {app}` (or PUT /api/v1/apps/{app}/sentry with enabled set to true); then give the SDK the DSN it shows" }
    SentryOriginRefused = "sentry.origin_not_allowed" {
        zh: "来源 {origin} 不在应用 {app} 的 Sentry 允许来源中：管理员可运行 `vitals sentry enable --app {app} --allow-origin {origin}` 加入（浏览器请求按 Origin/Referer 检查）",
        en: "origin {origin} is not an allowed origin of app {app} for Sentry intake: an admin adds it with `vitals sentry enable --app {app} --allow-origin {origin}` (browser requests are checked by Origin / Referer)" }
    SentryBadOrigin = "sentry.bad_origin" {
        zh: "允许来源 {value} 无效（{reason}）：应写作 `https://app.example.com`、`https://*.example.com`、`example.com`（任意协议与端口）、`*.example.com` 或 `*`，可带 `:端口`，不含路径",
        en: "allowed origin {value} is invalid ({reason}): write `https://app.example.com`, `https://*.example.com`, `example.com` (any scheme and port), `*.example.com` or `*`, optionally with `:port`, without a path" }
    SentryBadSettings = "sentry.bad_settings" {
        zh: "Sentry 接入设置无效：{reason}；请求体应为 JSON 对象，字段 enabled（true 或 false）和 allowed_origins（字符串数组），均可省略",
        en: "invalid Sentry intake settings: {reason}; send a JSON object with enabled (true or false) and allowed_origins (an array of strings), both optional" }
    SentryAttachmentTooLarge = "sentry.attachment_too_large" {
        zh: "minidump 上传请求体超过上限 {limit} 字节：可调高配置项 {key}",
        en: "the minidump upload exceeds the limit of {limit} bytes: raise {key} in the configuration if it is genuine" }
    SentryAppNotFound = "sentry.app_not_found" {
        zh: "没有应用 {app}：先用 `vitals keys create --app {app}` 创建",
        en: "no app {app}: create it first with `vitals keys create --app {app}`" }
    SentryItem = "sentry.item" {
        zh: "第 {index} 项无法处理：{reason}",
        en: "item {index} cannot be processed: {reason}" }
    SentryEnvelopeInvalid = "sentry.envelope_invalid" {
        zh: "信封格式无效：{reason}",
        en: "invalid envelope: {reason}" }
    SentryEnvelope = "sentry.envelope_partial" {
        zh: "信封部分损坏：{reason}；之前的有效内容已保存（{accepted} 个事件），请勿重发",
        en: "the envelope is partly damaged: {reason}; the valid items before it were kept ({accepted} events), do not resend" }
    SentryOversized = "sentry.oversized" {
        zh: "{count} 个条目超过大小上限被丢弃；其余内容已保存（{accepted} 个事件）",
        en: "{count} items exceeded the size limit and were dropped; the rest was kept ({accepted} events)" }
    SentryNoSecurity = "sentry.no_security" {
        zh: "vitals 不接收安全报告（CSP 等）",
        en: "vitals does not accept security reports (CSP and the like)" }

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
    ValFatalHandled = "validate.fatal_handled" {
        zh: "已处理的错误不能标记为崩溃：崩溃指应用被迫退出（handled 与 fatal 不能同时为 true）",
        en: "a handled error cannot be fatal: a crash is a forced exit (handled and fatal cannot both be true)" }
    ValSessionStatusOnStart = "validate.session_status_on_start" {
        zh: "会话开始事件不能带结束状态 {status}",
        en: "a session start cannot carry the end status {status}" }
    ValForbiddenChar = "validate.forbidden_char" {
        zh: "第 {at} 个字符 {code} 不允许出现在此字段（控制字符、双向文本控制符，以及版本号中分隔构建号的 +）",
        en: "character {at} ({code}) is not allowed in this field (control and bidirectional-override characters, and + in a version, where it separates the build)" }

    // ---- analyzer: policy --------------------------------------------------
    PolicySyntax = "policy.syntax" {
        zh: "策略文件不是合法的 TOML：{reason}",
        en: "the policy is not valid TOML: {reason}" }
    PolicyInvalid = "policy.invalid" {
        zh: "规则 {rule} 无效：{reason}",
        en: "rule {rule} is invalid: {reason}" }
    PolicyClauseMismatch = "policy.clause_mismatch" {
        zh: "该指标只能用于条款 {expected}",
        en: "this metric belongs to clause {expected}" }
    PolicyStatistic = "policy.statistic" {
        zh: "统计方式不适用于该指标，可选：{allowed}",
        en: "the statistic does not apply to this metric; use one of: {allowed}" }
    PolicyThreshold = "policy.threshold" {
        zh: "阈值必须是非负的有限数",
        en: "the threshold must be a finite, non-negative number" }
    PolicyCategory = "policy.category" {
        zh: "category 只用于 server_latency，取值 trade、quote、bus 或 other",
        en: "category is required for server_latency only, one of trade, quote, bus, other" }
    PolicyNoSuchRule = "policy.no_such_rule" {
        zh: "覆盖项找不到对应的规则",
        en: "the override matches no rule" }
    PolicyDuplicate = "policy.duplicate" {
        zh: "规则重复",
        en: "duplicate rule" }

    // ---- analyzer: verdicts and reports -----------------------------------
    VerdictPass = "verdict.pass" { zh: "通过", en: "pass" }
    VerdictFail = "verdict.fail" { zh: "不通过", en: "fail" }
    VerdictInsufficient = "verdict.insufficient" { zh: "数据不足", en: "insufficient data" }
    GateGo = "gate.go" { zh: "结论：可以发布（GO）", en: "Decision: GO" }
    GateNoGo = "gate.no_go" { zh: "结论：禁止发布（NO-GO）", en: "Decision: NO-GO" }
    GateInsufficient = "gate.insufficient" {
        zh: "结论：数据不足，无法判定（阻断性规则样本不够）",
        en: "Decision: insufficient data (a blocking rule lacks samples)" }
    ReportColumns = "report.columns" {
        zh: "条款|指标|数值|阈值|95% 区间|结论|依据",
        en: "clause|metric|value|threshold|95% interval|verdict|evidence" }
    ReportTitle = "report.title" {
        zh: "{app} {release} 合规报告",
        en: "{app} {release} compliance report" }
    ReportGenerated = "report.generated" {
        zh: "生成时间 {time}（{tz}），标准 Q/027CJSC001—2023",
        en: "generated {time} ({tz}), standard Q/027CJSC001-2023" }
    ReleaseNotFound = "analyzer.release_not_found" {
        zh: "应用 {app} 没有版本 {release} 的数据",
        en: "app {app} has no data for release {release}" }
    MetricCrashRatePerSession = "metric.crash_rate_per_session" { zh: "崩溃率（按会话）", en: "crash rate per session" }
    MetricCrashRatePerUser = "metric.crash_rate_per_user" { zh: "崩溃率（按用户）", en: "crash rate per user" }
    MetricCrashRatePerModel = "metric.crash_rate_per_model" { zh: "崩溃率（最差机型）", en: "crash rate, worst device model" }
    MetricCrashGroupUserShare = "metric.crash_group_user_share" { zh: "单个错误影响用户占比（最高）", en: "share of users hit by one error (highest)" }
    MetricCrashGroupRegressions = "metric.crash_group_regressions" { zh: "已修复问题回归数", en: "regressions of resolved errors" }
    MetricDeviceClassCoverage = "metric.device_class_coverage" { zh: "设备类型覆盖率", en: "device class coverage" }
    MetricOsVersionCoverage = "metric.os_version_coverage" { zh: "系统版本覆盖率", en: "OS version coverage" }
    MetricScreenCoverage = "metric.screen_coverage" { zh: "屏幕尺寸覆盖率", en: "screen size coverage" }
    MetricNetworkCoverage = "metric.network_coverage" { zh: "IPv4/IPv6 网络覆盖率", en: "IPv4/IPv6 network coverage" }
    MetricHarmonyosCoverage = "metric.harmonyos_coverage" { zh: "鸿蒙兼容覆盖率", en: "HarmonyOS coverage" }
    MetricPackageSize = "metric.package_size" { zh: "安装包大小（最大）", en: "install package size (largest)" }
    MetricInstallTime = "metric.install_time" { zh: "安装耗时（各机型均值的平均）", en: "install time (mean of per-model means)" }
    MetricColdStart = "metric.cold_start" { zh: "冷启动耗时", en: "cold start time" }
    MetricCpu = "metric.cpu" { zh: "CPU 占用率", en: "CPU usage" }
    MetricMemory = "metric.memory" { zh: "内存占用", en: "memory usage" }
    MetricServerLatency = "metric.server_latency" { zh: "服务端响应时间（{category}）", en: "server response time ({category})" }
    MetricUrgentTimeToFix = "metric.urgent_time_to_fix" { zh: "紧急错误未解决天数", en: "days an urgent error has stayed open" }
    MetricThirdPartyInitShare = "metric.third_party_init_share" { zh: "冷启动中三方 SDK 初始化耗时占比", en: "share of cold start spent initialising third-party SDKs" }
    MetricUntrustedShare = "metric.untrusted_share" { zh: "Root/越狱设备及模拟器会话占比", en: "share of sessions on rooted or jailbroken devices and emulators" }
    MetricRequestErrorRate = "metric.request_error_rate" { zh: "请求失败率（{category}）", en: "request error rate ({category})" }
    MetricReleaseNotes = "metric.release_notes" { zh: "更新说明", en: "release notes" }
    MetricUpgradePromptShare = "metric.upgrade_prompt_share" { zh: "应用内升级提示覆盖率（旧版本用户）", en: "share of an older release's users prompted in-app to upgrade" }
    MetricMinVersionNotice = "metric.min_version_notice" { zh: "最低版本限制提前通知天数", en: "days of notice before a minimum version is enforced" }
    MetricHotUpdateSize = "metric.hot_update_size" { zh: "热更新包大小（最大）", en: "hot update package size (largest)" }
    MetricHotUpdateDelivery = "metric.hot_update_delivery" { zh: "热更新送达率（最低）", en: "hot update delivery rate (lowest)" }
    MetricHotUpdateSuccess = "metric.hot_update_success" { zh: "热更新成功率（最低）", en: "hot update success rate (lowest)" }
    EvidenceSessions = "evidence.sessions" { zh: "{crashed} / {total} 个会话崩溃", en: "{crashed} of {total} sessions crashed" }
    EvidenceUsers = "evidence.users" { zh: "{crashed} / {total} 个用户遇到崩溃", en: "{crashed} of {total} users had a crash" }
    EvidenceWorstModel = "evidence.worst_model" { zh: "最差机型 {model}：{crashed} / {total} 个会话崩溃", en: "worst model {model}: {crashed} of {total} sessions crashed" }
    EvidenceGroup = "evidence.group" { zh: "{exception}（{fingerprint}）影响 {users} / {total} 个用户；紧急问题 {urgent} 个", en: "{exception} ({fingerprint}) hit {users} of {total} users; {urgent} urgent groups" }
    EvidenceRegressions = "evidence.regressions" { zh: "回归：{list}", en: "regressed: {list}" }
    EvidenceCoverage = "evidence.coverage" { zh: "覆盖 {covered} / {required} 个必需单元；未测试：{missing}", en: "{covered} of {required} required cells covered; untested: {missing}" }
    EvidenceSamples = "evidence.samples" { zh: "{n} 个样本", en: "{n} samples" }
    EvidenceModels = "evidence.models" { zh: "{models} 个机型，{n} 次安装", en: "{models} device models, {n} installs" }
    EvidencePackage = "evidence.package" { zh: "最大：{platform} {abi}", en: "largest: {platform} {abi}" }
    EvidenceNotes = "evidence.notes" { zh: "更新说明 {chars} 个字符", en: "release notes of {chars} characters" }
    EvidenceNoMinVersion = "evidence.no_min_version" { zh: "未设置最低版本限制", en: "no minimum version set" }
    EvidenceMinVersion = "evidence.min_version" { zh: "最低版本 {version}：提前 {days} 天通知", en: "minimum version {version}: announced {days} days ahead" }
    EvidencePatch = "evidence.patch" { zh: "补丁 {patch}：{num} / {den}", en: "patch {patch}: {num} of {den}" }
    EvidenceNone = "evidence.none" { zh: "没有数据", en: "no data" }
    ReasonNoData = "reason.no_data" { zh: "没有数据，无法判定", en: "no data to decide on" }
    ReasonWithin = "reason.within" { zh: "在阈值以内", en: "within the threshold" }
    ReasonOver = "reason.over" { zh: "实测值超出阈值", en: "the measured value is over the threshold" }
    ReasonTooFew = "reason.too_few" { zh: "样本 {have} 个，少于判定所需的 {need} 个", en: "{have} observations, fewer than the {need} a verdict needs" }
    ReasonProvenOver = "reason.proven_over" { zh: "样本 {have} 个（少于 {need} 个），但置信区间已证明超出阈值", en: "only {have} of {need} observations, but the confidence interval already proves the threshold is exceeded" }
    ReasonUnproven = "reason.unproven" { zh: "实测值在阈值以内，但 95% 置信区间尚未完全落在阈值以内（标准要求“保证”）", en: "the measured value is within the threshold, but its 95 % interval still reaches past it (the standard says \"ensure\")" }
    ReasonUnprovenMore = "reason.unproven_more" { zh: "实测值在阈值以内，但 95% 置信区间尚未完全落在阈值以内（标准要求“保证”）；按当前水平约再需 {more} 个样本即可判定", en: "the measured value is within the threshold, but its 95 % interval still reaches past it (the standard says \"ensure\"); about {more} more observations at the current level would decide" }
    EvidenceOpenGroup = "evidence.open_group" { zh: "错误 {fingerprint} 自首次出现已 {days} 天仍未解决", en: "error {fingerprint} still open {days} days after it first appeared" }
    EvidenceNoOpenUrgent = "evidence.no_open_urgent" { zh: "没有未解决的紧急错误", en: "no urgent error is open" }
    EvidenceSdkInit = "evidence.sdk_init" { zh: "{n} 次带分段的冷启动，三方 SDK 初始化共 {ms} 毫秒", en: "{n} cold starts with a breakdown, {ms} ms initialising third-party SDKs" }
    EvidenceUntrusted = "evidence.untrusted" { zh: "{total} 个会话中 {untrusted} 个来自 Root/越狱设备或模拟器", en: "{untrusted} of {total} sessions on rooted or jailbroken devices or emulators" }
    EvidenceUpgradePrompt = "evidence.upgrade_prompt" { zh: "最新版本 {newest} 发布后，{due} 个用户中 {prompted} 个看到了升级到该版本的提示（{accepted} 个接受，{declined} 个拒绝，{later} 个选择稍后）；另有 {stale} 次提示给出的不是最新版本", en: "since {newest} came out, {prompted} of {due} users were shown a prompt to upgrade to it ({accepted} accepted, {declined} declined, {later} chose later); {stale} prompts offered another version" }
    EvidenceUpgradeNotDue = "evidence.upgrade_not_due" { zh: "本版本已是最新版本，尚无可提示升级的新版本", en: "this is the newest release: there is no newer version to prompt for yet" }
    EvidenceRequests = "evidence.requests" { zh: "{total} 个请求中 {failed} 个失败（传输错误、超时或 5xx）；失败率最高的站点：{site}", en: "{failed} of {total} requests failed (transport error, timeout or 5xx); worst site: {site}" }

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
    CliDemoAlerts = "cli.demo.alerts" {
        zh: "默认告警规则（崩溃率须低于 0.05% 等阻断项）按 {schedule} 评估最近一小时的数据；模拟设备中最新版本的崩溃率偏高，告警触发后会显示在这里，并列在 {url}/ui/alerts",
        en: "Default alert rules (crash rate below 0.05 % and the other blockers) judge the last hour on schedule {schedule}; the simulated fleet's newest release crashes too often: fired alerts are printed here and listed at {url}/ui/alerts" }
    CliDemoAlertFired = "cli.demo.alert_fired" {
        zh: "告警已触发：{rule}（条款 {clause}）版本 {release}：{value}，阈值 {threshold}；{evidence}。详见 {url}/ui/alerts",
        en: "ALERT fired: {rule} (clause {clause}) release {release}: {value}, threshold {threshold}; {evidence}. See {url}/ui/alerts" }
    CliMigrateDone = "cli.migrate.done" {
        zh: "{backend} 表结构已是最新（版本 {version}，本次应用 {applied} 个迁移）",
        en: "{backend} schema is up to date (version {version}, {applied} migrations applied now)" }
    CliRollupsRebuilt = "cli.migrate.rollups_rebuilt" {
        zh: "汇总表已按原始数据重建（用时 {secs} 秒）",
        en: "rollups rebuilt from the raw rows in {secs} s" }
    CliKeyCreated = "cli.keys.created" {
        zh: "已为应用 {app} 创建接入密钥\n  key id：{key_id}\n  secret：{secret}\n请妥善保存 secret，它不会再次显示。",
        en: "ingest key created for app {app}\n  key id: {key_id}\n  secret: {secret}\nKeep the secret safe; it is not shown again." }
    CliKeySentryDsn = "cli.keys.sentry_dsn" {
        zh: "  Sentry DSN（接入地址）：{dsn}",
        en: "  Sentry DSN: {dsn}" }
    CliKeySentryOff = "cli.keys.sentry_off" {
        zh: "该应用未开启 Sentry 协议接入；若要用 Sentry SDK 上报：`vitals sentry enable --app {app}`",
        en: "Sentry-protocol intake is off for this app; to report with Sentry SDKs: `vitals sentry enable --app {app}`" }
    CliSentryState = "cli.sentry.state" {
        zh: "应用 {app} 的 Sentry 协议接入：{state}\n  项目编号：{project}\n  允许来源：{origins}",
        en: "Sentry-protocol intake of app {app}: {state}\n  project: {project}\n  allowed origins: {origins}" }
    CliSentryOn = "cli.sentry.on" { zh: "已开启", en: "on" }
    CliSentryOffState = "cli.sentry.off" { zh: "已关闭（Sentry 路由拒绝该应用的请求）", en: "off (the Sentry routes refuse this app)" }
    CliSentryNoOrigins = "cli.sentry.no_origins" {
        zh: "无（带 Origin/Referer 的浏览器请求被拒绝；原生与服务端 SDK 不受影响）",
        en: "none (browser requests, which carry Origin / Referer, are refused; native and server SDKs are not affected)" }
    CliSentryNoProject = "cli.sentry.no_project" { zh: "尚未分配（首次开启时生成）", en: "none yet (drawn when intake is first enabled)" }
    CliSentryDsn = "cli.sentry.dsn" { zh: "  DSN（密钥 {key_id}）：{dsn}", en: "  DSN (key {key_id}): {dsn}" }
    CliSentryNoKeys = "cli.sentry.no_keys" {
        zh: "  该应用没有有效的接入密钥，DSN 需要一把：`vitals keys create --app {app}`",
        en: "  the app has no active ingest key, which a DSN needs: `vitals keys create --app {app}`" }
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
    // ---- control plane -----------------------------------------------------
    ControlDualStack = "control.dual_stack" {
        zh: "站点 {site} 必须同时提供 IPv4 和 IPv6 地址（6.2b：不得只返回 IPv6）",
        en: "site {site} must have both IPv4 and IPv6 addresses (6.2b: never IPv6 only)" }
    ControlPackageTooLarge = "control.package_too_large" {
        zh: "更新包 {size} 字节，超过上限 {limit} 字节（5.4d）；管理员可附理由放行",
        en: "the package is {size} bytes, over the limit of {limit} (5.4d); an admin may override it with a reason" }
    ControlOverrideNeedsAdmin = "control.override_needs_admin" {
        zh: "只有管理员可以放行超过大小上限的更新包",
        en: "only an admin may let an oversized package through" }
    ControlNoticeTooShort = "control.notice_too_short" {
        zh: "最低版本限制须提前 {days} 天通知，当前只提前 {given} 天（5.4c）",
        en: "a minimum version must be announced {days} days before enforcement; {given} given (5.4c)" }
    ControlSameApprover = "control.same_approver" {
        zh: "申请人不能审批自己的操作：需要另一位操作员批准",
        en: "the requester may not approve their own action: another operator must approve it" }
    ControlAutomaticNeedsAdmin = "control.automatic_needs_admin" {
        zh: "按策略，{action} 需要第二人批准：自动执行该操作的告警规则只能由管理员保存",
        en: "the policy puts {action} under two-person approval: only an admin may save an alert rule that carries it out automatically" }
    ControlNotPending = "control.not_pending" {
        zh: "操作 {id} 不在待审批状态",
        en: "action {id} is not awaiting approval" }
    // ---- alerts ----------------------------------------------------------
    AlertSubjectFired = "alert.subject.fired" {
        zh: "[{clause}] 告警：{app} {series} {metric} = {value}（阈值 {threshold}）",
        en: "[{clause}] ALERT: {app} {series} {metric} = {value} (threshold {threshold})" }
    AlertSubjectOngoing = "alert.subject.ongoing" {
        zh: "[{clause}] 仍未恢复：{app} {series} {metric} = {value}（阈值 {threshold}）",
        en: "[{clause}] STILL FIRING: {app} {series} {metric} = {value} (threshold {threshold})" }
    AlertSubjectRecovered = "alert.subject.recovered" {
        zh: "[{clause}] 已恢复：{app} {series} {metric} = {value}（阈值 {threshold}）",
        en: "[{clause}] RECOVERED: {app} {series} {metric} = {value} (threshold {threshold})" }
    AlertBody = "alert.body" {
        zh: "规则：{rule}\n条款：{clause}\n应用：{app}\n对象：{series}\n指标：{metric}\n当前值：{value}\n阈值：{threshold}（{direction}）\n样本数：{sample}\n统计窗口：最近 {window} 分钟\n依据：{evidence}\n时间：{time}（{tz}）",
        en: "Rule: {rule}\nClause: {clause}\nApp: {app}\nSubject: {series}\nMetric: {metric}\nValue: {value}\nThreshold: {threshold} ({direction})\nSample: {sample}\nWindow: last {window} min\nEvidence: {evidence}\nTime: {time} ({tz})" }
    AlertDirectionBelow = "alert.direction.below" { zh: "须低于阈值", en: "must stay below" }
    AlertDirectionAtLeast = "alert.direction.at_least" { zh: "须达到阈值", en: "must reach it" }
    AlertActionApplied = "alert.action.applied" {
        zh: "已自动执行应急操作 {action}（审计记录 #{audit}），可用 `vitals switch revert {audit}` 一步撤销",
        en: "emergency action {action} applied automatically (audit entry #{audit}); undo with `vitals switch revert {audit}`" }
    AlertActionPending = "alert.action.pending" {
        zh: "应急操作 {action} 等待另一位操作员批准：`vitals switch approve {id}`",
        en: "emergency action {action} awaits a second operator: `vitals switch approve {id}`" }
    AlertActionFailed = "alert.action.failed" {
        zh: "应急操作 {action} 未能执行：{reason}",
        en: "emergency action {action} could not be carried out: {reason}" }
    AlertChartCaption = "alert.chart_caption" {
        zh: "图：蓝线为{metric}，红线为阈值",
        en: "Chart: blue is {metric}, red is the threshold" }
    AlertMetricSiteDown = "alert.metric.site_down" { zh: "站点不可用（连续探测失败次数）", en: "site down (consecutive failed probes)" }
    AlertRuleInvalid = "alert.rule_invalid" {
        zh: "告警规则 {rule} 无效：{reason}",
        en: "alert rule {rule} is invalid: {reason}" }
    AlertWebhookBadUrl = "alert.webhook.bad_url" {
        zh: "Webhook 地址必须是带主机名的 http(s) 地址",
        en: "a webhook URL must be an http(s) URL with a host" }
    AlertWebhookHostNotAllowed = "alert.webhook.host_not_allowed" {
        zh: "Webhook 主机 {host} 不在允许列表中：请管理员将其加入配置 [alerts.webhooks] allow_hosts",
        en: "webhook host {host} is not allowed: an admin must add it to [alerts.webhooks] allow_hosts" }
    AlertWebhookInternal = "alert.webhook.internal" {
        zh: "Webhook 主机 {host} 指向内部地址 {addr}（回环、内网、链路本地或云元数据地址），已拒绝；如确需使用，请管理员将其加入 [alerts.webhooks] allow_internal",
        en: "webhook host {host} points at the internal address {addr} (loopback, private, link-local or cloud metadata) and was refused; if intended, an admin must add it to [alerts.webhooks] allow_internal" }
    AlertWebhookUnresolved = "alert.webhook.unresolved" {
        zh: "无法解析 Webhook 主机 {host}",
        en: "webhook host {host} could not be resolved" }
    AlertBadEmail = "alert.bad_email" {
        zh: "收件人 {addr} 不是有效的邮件地址（应为 名称@域名，且不含换行）",
        en: "recipient {addr} is not an e-mail address (name@domain, without line breaks)" }
    DigestSubject = "digest.subject" {
        zh: "[日报] vitals {date}：{fired} 条告警，{firing} 条仍未恢复",
        en: "[Daily digest] vitals {date}: {fired} alerts, {firing} still firing" }
    DigestLine = "digest.line" {
        zh: "{time} [{clause}] {app} {series} {event}：{value}（阈值 {threshold}）",
        en: "{time} [{clause}] {app} {series} {event}: {value} (threshold {threshold})" }
    DigestNone = "digest.none" { zh: "过去 24 小时没有告警。", en: "No alerts in the last 24 hours." }
    WeeklySubject = "weekly.subject" {
        zh: "[周报] {app} {release} 合规报告：{decision}",
        en: "[Weekly] {app} {release} compliance report: {decision}" }
    // ---- CLI: vitals switch -------------------------------------------------
    CliSwitchApplied = "cli.switch.applied" {
        zh: "已执行 {action}（审计记录 #{audit}）",
        en: "{action} applied (audit entry #{audit})" }
    CliSwitchPending = "cli.switch.pending" {
        zh: "{action} 已提交，等待另一位操作员批准：vitals switch approve {id}",
        en: "{action} requested; a second operator approves it with: vitals switch approve {id}" }
    CliSwitchReverted = "cli.switch.reverted" {
        zh: "已撤销审计记录 #{id}（新审计记录 #{audit}）",
        en: "audit entry #{id} reverted (new audit entry #{audit})" }
    CliSwitchStatus = "cli.switch.status" {
        zh: "应用 {app}：配置序号 {seq}，应急指令 {emergency} 条，站点 {sites} 个（不可用 {down} 个），灰度 {rollouts} 个，待审批 {pending} 条",
        en: "app {app}: config seq {seq}, {emergency} emergency directives, {sites} sites ({down} down), {rollouts} rollouts, {pending} awaiting approval" }
    CliSwitchKeyRotated = "cli.switch.key_rotated" {
        zh: "新的客户端配置签名密钥 {key_id} 已启用；旧密钥继续发布，直到 `vitals switch retire-key 旧密钥` 停用",
        en: "new client-config signing key {key_id} in use; old keys stay published until `vitals switch retire-key OLD_ID`" }
    // ---- symbolicator -----------------------------------------------------
    SymMissingDebugFile = "symbolicator.missing_debug_file" {
        zh: "缺少调试文件：请上传 {kind} {debug_id}（{image}），上传后崩溃会自动重新符号化",
        en: "missing debug file: upload {kind} {debug_id} for {image}; the crash is reprocessed once it arrives" }
    SymMissingProguard = "symbolicator.missing_proguard" {
        zh: "缺少 ProGuard/R8 映射文件：请上传 mapping.txt（UUID {uuid}）",
        en: "missing ProGuard/R8 mapping: upload mapping.txt (UUID {uuid})" }
    SymMissingSourceMap = "symbolicator.missing_source_map" {
        zh: "缺少源码映射：请上传 {url} 的 source map（版本 {release}）",
        en: "missing source map: upload the source map of {url} (release {release})" }
    SymBadApp = "symbolicator.bad_app" {
        zh: "应用标识 {app} 无效：只允许字母、数字、点、下划线和连字符",
        en: "invalid app id {app}: only letters, digits, dot, underscore and hyphen are allowed" }
    SymUploadEmpty = "symbolicator.upload_empty" {
        zh: "上传请求中没有文件：请以 multipart/form-data 发送至少一个文件",
        en: "the upload contains no file: send at least one file as multipart/form-data" }
    SymUnknownFormat = "symbolicator.unknown_format" {
        zh: "无法识别文件 {name}：支持 dSYM、ELF、PDB、Breakpad .sym、ProGuard mapping.txt、source map 和压缩的 JS",
        en: "file {name} is not recognised: dSYM, ELF, PDB, Breakpad .sym, ProGuard mapping.txt, source maps and minified JS are supported" }
    SymArchiveRejected = "symbolicator.archive_rejected" {
        zh: "压缩包 {name} 被拒绝：{reason}",
        en: "archive {name} rejected: {reason}" }
    SymUploadTooLarge = "symbolicator.upload_too_large" {
        zh: "上传请求体（所有部分合计）超过上限 {limit} 字节：请分多次上传，或调高配置项 {key}",
        en: "the upload body (all parts together) exceeds the limit of {limit} bytes: upload in several requests, or raise {key} in the configuration" }
    SymZipTooManyEntries = "symbolicator.zip_too_many_entries" {
        zh: "上传的文件数（文件部分与压缩包条目合计）在 {name} 处超过上限 {limit}：请拆分上传，或调高配置项 {key}",
        en: "the upload holds more than {limit} files (file parts and archive entries together) at {name}: split it, or raise {key} in the configuration" }
    SymZipTooLarge = "symbolicator.zip_too_large" {
        zh: "上传中的压缩包解压后合计超过上限 {limit} 字节（在 {name} 处）：请拆分上传，或调高配置项 {key}",
        en: "the upload's archives expand to more than {limit} bytes together (at {name}): split it, or raise {key} in the configuration" }
    SymZipEntryTooLarge = "symbolicator.zip_entry_too_large" {
        zh: "压缩包 {name} 中的 {entry} 解压后超过上限 {limit} 字节：可调高配置项 {key}",
        en: "{entry} in archive {name} expands to more than {limit} bytes: raise {key} in the configuration if it is genuine" }
    SymZipRatio = "symbolicator.zip_ratio" {
        zh: "压缩包 {name} 中的 {entry} 压缩比超过上限 {limit}（疑似压缩炸弹）：如确为正常文件，可调高配置项 {key}",
        en: "{entry} in archive {name} is compressed more than {limit} times (a zip bomb?): raise {key} in the configuration if it is genuine" }
    SymZipArchiveRatio = "symbolicator.zip_archive_ratio" {
        zh: "压缩包 {name} 整体压缩比超过上限 {limit}（疑似由许多小条目组成的压缩炸弹）：如确为正常文件，可调高配置项 {key}",
        en: "archive {name} as a whole is compressed more than {limit} times (a zip bomb of many small entries?): raise {key} in the configuration if it is genuine" }
    SymBadFileName = "symbolicator.bad_file_name" {
        zh: "文件名 {name} 不安全（含路径穿越或控制字符）",
        en: "unsafe file name {name} (path traversal or control characters)" }
    SymBadField = "symbolicator.bad_field" {
        zh: "表单字段 {field} 无效：{reason}",
        en: "invalid form field {field}: {reason}" }
    CliUploadSymbolsDone = "cli.upload_symbols.done" {
        zh: "已上传 {files} 个调试文件（新增 {new}，已存在 {dup}），跳过 {skipped} 个",
        en: "{files} debug files uploaded ({new} new, {dup} already present), {skipped} skipped" }
    CliUploadSymbolsSkipped = "cli.upload_symbols.skipped" {
        zh: "跳过 {path}：{reason}",
        en: "skipped {path}: {reason}" }
}
