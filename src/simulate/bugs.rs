//! The recurring bugs of the simulated app, per runtime: what each crash
//! looks like (exception, message, crashing thread, frames innermost first).
//! The tables are kept one frame per line (`rustfmt::skip`) so they read like
//! the stack traces they stand for.

/// One frame template.
pub(crate) enum Fr {
    /// Machine code at `offset` inside `image`.
    Native {
        function: &'static str,
        image: &'static str,
        offset: u64,
        in_app: bool,
    },
    /// A Java / Kotlin frame (`line` 0 = native method).
    Java {
        class: &'static str,
        method: &'static str,
        file: &'static str,
        line: u32,
        in_app: bool,
    },
    /// A JavaScript / ArkTS frame.
    Script {
        function: &'static str,
        file: &'static str,
        line: u32,
        col: u32,
        in_app: bool,
    },
}

#[rustfmt::skip]
const fn n(function: &'static str, image: &'static str, offset: u64, in_app: bool) -> Fr {
    Fr::Native { function, image, offset, in_app }
}
#[rustfmt::skip]
const fn j(class: &'static str, method: &'static str, file: &'static str, line: u32, in_app: bool) -> Fr {
    Fr::Java { class, method, file, line, in_app }
}
#[rustfmt::skip]
const fn s(function: &'static str, file: &'static str, line: u32, col: u32, in_app: bool) -> Fr {
    Fr::Script { function, file, line, col, in_app }
}

/// One recurring bug. `message` may contain `{hex}` (a random address) and
/// `{n}` (a small random number).
pub(crate) struct Bug {
    pub exception: &'static str,
    pub message: &'static str,
    pub thread: &'static str,
    pub frames: &'static [Fr],
    pub weight: f64,
    /// Three times as likely on old / low-end devices.
    pub low_end: bool,
}

#[rustfmt::skip]
const fn bug(exception: &'static str, message: &'static str, thread: &'static str, frames: &'static [Fr], weight: f64) -> Bug {
    Bug { exception, message, thread, frames, weight, low_end: false }
}

/// A runtime's bugs: recurring fatal ones, the bad release's regression,
/// handled errors, and an idle thread shown beside the crashed one.
pub(crate) struct RuntimeBugs {
    pub background: &'static [Bug],
    pub regression: &'static Bug,
    pub handled: &'static [Bug],
    pub idle: (&'static str, &'static [Fr]),
}

// ---- Apple (iOS, iPadOS) ---------------------------------------------------

pub(crate) const APP_IMAGE: &str = "VitalsDemo";
const APP: &str = APP_IMAGE;
const UI_MAIN: Fr = n("UIApplicationMain", "UIKitCore", 0x3c_3f14, false);
const APP_MAIN: Fr = n("main", APP, 0x8a30, true);
const THROW0: Fr = n("__exceptionPreprocess", "CoreFoundation", 0x8_f2c8, false);
const THROW1: Fr = n("objc_exception_throw", "libobjc.A.dylib", 0x1_c560, false);

#[rustfmt::skip]
pub(crate) const APPLE: RuntimeBugs = RuntimeBugs {
    background: &[
        bug("SIGSEGV", "Segmentation fault: 11 (KERN_INVALID_ADDRESS at {hex})", "quote-worker", &[
            n("QuoteBook::apply(QuoteDelta const&)", APP, 0x1a_3f2c, true),
            n("QuoteStream::onFrame(unsigned char const*, unsigned long)", APP, 0x1a_1b08, true),
            n("-[VTQuoteSocket webSocket:didReceiveMessageWithData:]", APP, 0x9_c4e0, true),
            n("_dispatch_call_block_and_release", "libdispatch.dylib", 0x1dd0, false),
            n("_dispatch_client_callout", "libdispatch.dylib", 0x3b14, false),
            n("_dispatch_lane_serial_drain", "libdispatch.dylib", 0xb2a8, false),
            n("_pthread_wqthread", "libsystem_pthread.dylib", 0x3328, false),
        ], 4.0),
        bug("NSInvalidArgumentException", "-[__NSCFNumber length]: unrecognized selector sent to instance {hex}", "main", &[
            THROW0, THROW1,
            n("-[NSObject(NSObject) doesNotRecognizeSelector:]", "CoreFoundation", 0x11_fd40, false),
            n("___forwarding___", "CoreFoundation", 0x9_8c18, false),
            n("-[VTOrderFormViewController priceFieldDidChange:]", APP, 0x6_d2f4, true),
            n("-[UIApplication sendAction:to:from:forEvent:]", "UIKitCore", 0x2a_1c34, false),
            UI_MAIN, APP_MAIN,
        ], 3.0),
        bug("NSRangeException", "*** -[__NSArrayM objectAtIndexedSubscript:]: index {n} beyond bounds [0 .. 4]", "main", &[
            THROW0, THROW1,
            n("-[__NSArrayM objectAtIndexedSubscript:]", "CoreFoundation", 0x1_3a90, false),
            n("-[VTWatchlistDataSource tableView:cellForRowAtIndexPath:]", APP, 0x5_1e7c, true),
            n("-[UITableView _createPreparedCellForGlobalRow:withIndexPath:willDisplay:]", "UIKitCore", 0x1b_8e40, false),
            UI_MAIN, APP_MAIN,
        ], 3.0),
        bug("EXC_BREAKPOINT", "Fatal error: Unexpectedly found nil while unwrapping an Optional value", "main", &[
            n("_assertionFailure(_:_:file:line:flags:)", "libswiftCore.dylib", 0x13_a1c0, false),
            n("PortfolioService.refresh(completion:)", APP, 0x3_f1a8, true),
            n("closure #1 in PortfolioViewModel.reload()", APP, 0x4_1c0c, true),
            n("_dispatch_call_block_and_release", "libdispatch.dylib", 0x1dd0, false),
            n("_dispatch_main_queue_drain", "libdispatch.dylib", 0x1_1c44, false),
            UI_MAIN, APP_MAIN,
        ], 2.0),
    ],
    regression: &bug("NSInvalidArgumentException",
        "*** -[__NSPlaceholderDictionary initWithObjects:forKeys:count:]: attempt to insert nil object from objects[{n}]",
        "main", &[
        THROW0, THROW1,
        n("-[__NSPlaceholderDictionary initWithObjects:forKeys:count:]", "CoreFoundation", 0x13_c2e4, false),
        n("+[NSDictionary dictionaryWithObjects:forKeys:count:]", "CoreFoundation", 0x3_c1d0, false),
        n("-[VTTradeConfirmViewController buildOrderPayload]", APP, 0x7_e8a4, true),
        n("-[VTTradeConfirmViewController confirmTapped:]", APP, 0x7_e2c0, true),
        n("-[UIApplication sendAction:to:from:forEvent:]", "UIKitCore", 0x2a_1c34, false),
        UI_MAIN, APP_MAIN,
    ], 1.0),
    handled: &[
        bug("NSURLErrorDomain", "Error Domain=NSURLErrorDomain Code=-1001 \"The request timed out.\"", "main", &[
            n("-[VTApiClient handleFailure:]", APP, 0x2_2f10, true),
            UI_MAIN,
        ], 1.0),
    ],
    idle: ("com.apple.uikit.eventfetch-thread", &[
        n("mach_msg2_trap", "libsystem_kernel.dylib", 0x1888, false),
        n("mach_msg2_internal", "libsystem_kernel.dylib", 0x4d80, false),
        n("__CFRunLoopServiceMachPort", "CoreFoundation", 0x2_b2f0, false),
        n("__CFRunLoopRun", "CoreFoundation", 0x2_a9c8, false),
    ]),
};

// ---- Android, Android tablets, HarmonyOS 2–4 -------------------------------

const H0: Fr = j(
    "android.os.Handler",
    "handleCallback",
    "Handler.java",
    958,
    false,
);
const H1: Fr = j("android.os.Looper", "loop", "Looper.java", 294, false);
const H2: Fr = j(
    "android.app.ActivityThread",
    "main",
    "ActivityThread.java",
    8177,
    false,
);

#[rustfmt::skip]
pub(crate) const ANDROID: RuntimeBugs = RuntimeBugs {
    background: &[
        bug("java.lang.NullPointerException",
            "Attempt to invoke virtual method 'java.lang.String com.vitals.demo.quote.Quote.getSymbol()' on a null object reference",
            "main", &[
            j("com.vitals.demo.quote.WatchlistAdapter", "onBindViewHolder", "WatchlistAdapter.kt", 88, true),
            j("com.vitals.demo.quote.WatchlistAdapter", "onBindViewHolder", "WatchlistAdapter.kt", 31, true),
            j("androidx.recyclerview.widget.RecyclerView$Adapter", "bindViewHolder", "RecyclerView.java", 7254, false),
            j("androidx.recyclerview.widget.RecyclerView$Recycler", "tryBindViewHolderByDeadline", "RecyclerView.java", 6289, false),
            H0, H1, H2,
        ], 5.0),
        bug("java.lang.IllegalStateException", "Fragment OrderFragment{{hex}} not attached to a context.", "main", &[
            j("androidx.fragment.app.Fragment", "requireContext", "Fragment.java", 972, false),
            j("com.vitals.demo.trade.OrderFragment", "onQuoteUpdate", "OrderFragment.kt", 214, true),
            j("com.vitals.demo.trade.OrderFragment$observeQuotes$1", "invoke", "OrderFragment.kt", 120, true),
            j("androidx.lifecycle.LiveData", "dispatchingValue", "LiveData.java", 133, false),
            H0, H1, H2,
        ], 3.0),
        Bug { low_end: true, ..bug("java.lang.OutOfMemoryError",
            "Failed to allocate a {n}04864 byte allocation with 25165824 free bytes and 24MB until OOM", "main", &[
            j("android.graphics.Bitmap", "nativeCreate", "Bitmap.java", 0, false),
            j("android.graphics.Bitmap", "createBitmap", "Bitmap.java", 1113, false),
            j("com.vitals.demo.chart.KLineView", "ensureBuffer", "KLineView.kt", 341, true),
            j("com.vitals.demo.chart.KLineView", "onDraw", "KLineView.kt", 188, true),
            j("android.view.View", "draw", "View.java", 23912, false),
            H0, H1, H2,
        ], 2.0) },
        bug("java.util.ConcurrentModificationException", "", "bus-dispatch", &[
            j("java.util.ArrayList$Itr", "checkForComodification", "ArrayList.java", 1013, false),
            j("java.util.ArrayList$Itr", "next", "ArrayList.java", 967, false),
            j("com.vitals.demo.bus.MessageBus", "post", "MessageBus.kt", 77, true),
            j("com.vitals.demo.bus.MessageBus$dispatch$1", "run", "MessageBus.kt", 52, true),
            j("java.util.concurrent.ThreadPoolExecutor", "runWorker", "ThreadPoolExecutor.java", 1145, false),
            j("java.lang.Thread", "run", "Thread.java", 1012, false),
        ], 2.0),
        bug("SIGSEGV", "SEGV_MAPERR at {hex}", "quote-worker", &[
            n("QuoteBook::apply(QuoteDelta const&)", "libquote_core.so", 0x8_f3a4, true),
            n("QuoteStream::onFrame(unsigned char const*, unsigned long)", "libquote_core.so", 0x8_c1e0, true),
            n("Java_com_vitals_demo_quote_NativeQuote_onFrame", "libquote_core.so", 0x7_a010, true),
            n("art_quick_generic_jni_trampoline", "libart.so", 0x22_c148, false),
            n("art_quick_invoke_stub", "libart.so", 0x21_8964, false),
            n("__pthread_start(void*)", "libc.so", 0xe_6d18, false),
            n("__start_thread", "libc.so", 0x8_4d74, false),
        ], 3.0),
    ],
    regression: &bug("java.lang.IndexOutOfBoundsException", "Index {n} out of bounds for length {n}", "main", &[
        j("jdk.internal.util.Preconditions", "outOfBounds", "Preconditions.java", 64, false),
        j("java.util.Objects", "checkIndex", "Objects.java", 385, false),
        j("java.util.ArrayList", "get", "ArrayList.java", 434, false),
        j("com.vitals.demo.trade.OrderBookView", "updateDepth", "OrderBookView.kt", 157, true),
        j("com.vitals.demo.trade.TradeConfirmFragment", "onDepth", "TradeConfirmFragment.kt", 96, true),
        H0, H1, H2,
    ], 1.0),
    handled: &[
        bug("java.net.SocketTimeoutException", "timeout", "OkHttp Dispatcher", &[
            j("okhttp3.internal.http2.Http2Stream$StreamTimeout", "newTimeoutException", "Http2Stream.kt", 675, false),
            j("com.vitals.demo.net.ApiClient", "execute", "ApiClient.kt", 61, true),
        ], 1.0),
    ],
    idle: ("OkHttp TaskRunner", &[
        j("java.lang.Object", "wait", "Object.java", 0, false),
        j("okhttp3.internal.concurrent.TaskRunner", "awaitTaskToRun", "TaskRunner.kt", 212, false),
        j("java.lang.Thread", "run", "Thread.java", 1012, false),
    ]),
};

// ---- HarmonyOS NEXT (ArkTS) ------------------------------------------------

#[rustfmt::skip]
pub(crate) const ARKTS: RuntimeBugs = RuntimeBugs {
    background: &[
        bug("TypeError", "Cannot read property price of undefined", "main", &[
            s("renderRow", "entry/src/main/ets/components/WatchlistRow.ets", 42, 17, true),
            s("build", "entry/src/main/ets/pages/QuotePage.ets", 88, 9, true),
            s("onQuotePush", "entry/src/main/ets/model/QuoteStore.ets", 57, 5, true),
        ], 4.0),
        bug("SIGSEGV", "SIGSEGV(SEGV_MAPERR)@{hex}", "quote-worker", &[
            n("QuoteBook::apply(QuoteDelta const&)", "libentry.so", 0x5_a3c0, true),
            n("OnFrame(napi_env__*, napi_callback_info__*)", "libentry.so", 0x4_f118, true),
            n("panda::ecmascript::EcmaVM::Execute", "libark_jsruntime.so", 0x3c_2a10, false),
            n("OHOS::AppExecFwk::EventHandler::DistributeEvent", "libeventhandler.z.so", 0x1_f0c4, false),
        ], 2.0),
        bug("RangeError", "Invalid array length", "main", &[
            s("resizeBuffer", "entry/src/main/ets/chart/KLineChart.ets", 133, 21, true),
            s("aboutToAppear", "entry/src/main/ets/pages/KLinePage.ets", 40, 7, true),
        ], 1.0),
    ],
    regression: &bug("TypeError", "Cannot read property orderId of undefined", "main", &[
        s("buildPayload", "entry/src/main/ets/pages/TradeConfirmPage.ets", 74, 31, true),
        s("onConfirm", "entry/src/main/ets/pages/TradeConfirmPage.ets", 112, 9, true),
    ], 1.0),
    handled: &[
        bug("BusinessError", "2300028: Timeout was reached", "main", &[
            s("request", "entry/src/main/ets/net/ApiClient.ets", 58, 13, true),
        ], 1.0),
    ],
    idle: ("OS_IPC_0", &[
        n("ioctl", "libc.so", 0x7_c0d4, false),
        n("OHOS::BinderConnector::WriteBinder", "libipc_core.z.so", 0x2_41a8, false),
    ]),
};

// ---- WeChat mini program ---------------------------------------------------

#[rustfmt::skip]
pub(crate) const MINI: RuntimeBugs = RuntimeBugs {
    background: &[
        bug("TypeError", "Cannot read property 'price' of undefined", "app-service", &[
            s("renderQuote", "pages/quote/index.js", 57, 23, true),
            s("onQuotePush", "pages/quote/index.js", 112, 9, true),
            s("emit", "utils/socket.js", 31, 11, true),
        ], 5.0),
        bug("RangeError", "Maximum call stack size exceeded", "app-service", &[
            s("formatNumber", "utils/format.js", 14, 5, true),
            s("formatNumber", "utils/format.js", 19, 12, true),
            s("formatNumber", "utils/format.js", 19, 12, true),
        ], 1.0),
        bug("Error", "Exceeded the maximum size of setData", "app-service", &[
            s("updateKline", "pages/kline/index.js", 201, 12, true),
            s("onTick", "pages/kline/index.js", 150, 7, true),
        ], 2.0),
    ],
    regression: &bug("TypeError", "Cannot read property 'orderId' of undefined", "app-service", &[
        s("buildPayload", "pages/trade/confirm.js", 74, 31, true),
        s("onConfirmTap", "pages/trade/confirm.js", 120, 5, true),
    ], 1.0),
    handled: &[
        bug("Error", "request:fail timeout", "app-service", &[
            s("request", "utils/api.js", 22, 9, true),
        ], 1.0),
    ],
    idle: ("webview", &[s("flush", "WAWebview.js", 2, 48_211, false)]),
};
