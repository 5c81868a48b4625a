/**
 * Local type stubs of the HarmonyOS (OpenHarmony) APIs the ArkTS adapter
 * uses, written from the documented signatures (API 10–12). They declare
 * only what the SDK calls; the real declarations ship with the HarmonyOS
 * SDK, which resolves the same module names at build time.
 */

declare module '@ohos.app.ability.common' {
  namespace common {
    interface ApplicationStateChangeCallback {
      onApplicationForeground(): void;
      onApplicationBackground(): void;
    }
    interface Context {
      filesDir: string;
      getApplicationContext(): ApplicationContext;
    }
    interface ApplicationContext extends Context {
      on(type: 'applicationStateChange', callback: ApplicationStateChangeCallback): void;
      off(type: 'applicationStateChange', callback?: ApplicationStateChangeCallback): void;
    }
    interface AbilityStageContext extends Context {}
    interface UIAbilityContext extends Context {}
  }
  export default common;
}

declare module '@ohos.app.ability.AbilityStage' {
  import common from '@ohos.app.ability.common';
  export default class AbilityStage {
    context: common.AbilityStageContext;
    onCreate(): void;
  }
}

declare module '@ohos.net.http' {
  namespace http {
    enum RequestMethod {
      OPTIONS = 'OPTIONS',
      GET = 'GET',
      HEAD = 'HEAD',
      POST = 'POST',
      PUT = 'PUT',
      DELETE = 'DELETE',
      TRACE = 'TRACE',
      CONNECT = 'CONNECT',
    }
    enum HttpDataType {
      STRING = 0,
      OBJECT = 1,
      ARRAY_BUFFER = 2,
    }
    interface HttpRequestOptions {
      method?: RequestMethod;
      extraData?: string | Object | ArrayBuffer;
      expectDataType?: HttpDataType;
      usingCache?: boolean;
      header?: Object;
      readTimeout?: number;
      connectTimeout?: number;
    }
    /** API 11+. Milliseconds. */
    interface PerformanceTiming {
      dnsTiming: number;
      tcpTiming: number;
      tlsTiming: number;
      firstSendTiming: number;
      firstReceiveTiming: number;
      totalFinishTiming: number;
      redirectTiming: number;
      responseHeaderTiming: number;
      responseBodyTiming: number;
      totalTiming: number;
    }
    interface HttpResponse {
      result: string | Object | ArrayBuffer;
      resultType: HttpDataType;
      responseCode: number;
      header: Object;
      cookies: string;
      performanceTiming?: PerformanceTiming;
    }
    interface HttpRequest {
      request(url: string, options?: HttpRequestOptions): Promise<HttpResponse>;
      destroy(): void;
    }
    function createHttp(): HttpRequest;
  }
  export default http;
}

declare module '@ohos.data.preferences' {
  import common from '@ohos.app.ability.common';
  namespace preferences {
    type ValueType = number | string | boolean | Array<number> | Array<string> | Array<boolean> | Uint8Array;
    interface Preferences {
      get(key: string, defValue: ValueType): Promise<ValueType>;
      put(key: string, value: ValueType): Promise<void>;
      delete(key: string): Promise<void>;
      flush(): Promise<void>;
    }
    function getPreferences(context: common.Context, name: string): Promise<Preferences>;
  }
  export default preferences;
}

declare module '@ohos.app.ability.errorManager' {
  namespace errorManager {
    interface ErrorObserver {
      onUnhandledException(errMsg: string): void;
      /** API 10+. */
      onException?(errObject: Error): void;
    }
    type UnhandledRejectionObserver = (reason: Error | unknown, promise: Promise<unknown>) => void;
    function on(type: 'error', observer: ErrorObserver): number;
    function off(type: 'error', observerId: number): Promise<void>;
    /** API 12+. */
    function on(type: 'unhandledRejection', observer: UnhandledRejectionObserver): void;
    function off(type: 'unhandledRejection', observer?: UnhandledRejectionObserver): void;
  }
  export default errorManager;
}

declare module '@ohos.deviceInfo' {
  const deviceInfo: {
    readonly deviceType: string;
    readonly manufacture: string;
    readonly brand: string;
    readonly marketName: string;
    readonly productModel: string;
    readonly osFullName: string;
    readonly displayVersion: string;
    readonly abiList: string;
    readonly sdkApiVersion: number;
    readonly distributionOSVersion: string;
  };
  export default deviceInfo;
}

declare module '@ohos.display' {
  namespace display {
    interface Display {
      width: number;
      height: number;
      densityPixels: number;
      densityDPI: number;
    }
    function getDefaultDisplaySync(): Display;
  }
  export default display;
}

declare module '@ohos.hidebug' {
  namespace hidebug {
    /** Proportional set size of the process, KB. */
    function getPss(): bigint;
    /** CPU usage of the process, 0–1 (0.5 = 50 %). */
    function getCpuUsage(): number;
  }
  export default hidebug;
}

declare module '@ohos.process' {
  namespace process {
    /** Milliseconds from system start to process start (API 10+). */
    function getStartRealtime(): number;
    /** Seconds this process has run. */
    function uptime(): number;
  }
  export default process;
}

declare module '@ohos.systemDateTime' {
  namespace systemDateTime {
    enum TimeType {
      STARTUP = 0,
      ACTIVE = 1,
    }
    /** API 10+. */
    function getUptime(timeType: TimeType, isNanoseconds?: boolean): number;
  }
  export default systemDateTime;
}

declare module '@ohos.security.cryptoFramework' {
  namespace cryptoFramework {
    interface DataBlob {
      data: Uint8Array;
    }
    interface Random {
      /** API 10+. */
      generateRandomSync(len: number): DataBlob;
    }
    function createRandom(): Random;
  }
  export default cryptoFramework;
}

declare module '@ohos.net.connection' {
  namespace connection {
    enum NetBearType {
      BEARER_CELLULAR = 0,
      BEARER_WIFI = 1,
      BEARER_ETHERNET = 3,
    }
    interface NetHandle {
      netId: number;
    }
    interface NetCapabilities {
      bearerTypes: Array<NetBearType>;
    }
    interface NetAddress {
      address: string;
      /** 1 = IPv4, 2 = IPv6. */
      family?: number;
    }
    interface LinkAddress {
      address: NetAddress;
      prefixLength: number;
    }
    interface ConnectionProperties {
      linkAddresses: Array<LinkAddress>;
    }
    interface NetConnection {
      on(type: 'netAvailable', callback: (data: NetHandle) => void): void;
      on(type: 'netLost', callback: (data: NetHandle) => void): void;
      register(callback: (err: unknown) => void): void;
      unregister(callback: (err: unknown) => void): void;
    }
    /** API 10+. */
    function getDefaultNetSync(): NetHandle;
    function getNetCapabilitiesSync(netHandle: NetHandle): NetCapabilities;
    function getConnectionPropertiesSync(netHandle: NetHandle): ConnectionProperties;
    function createNetConnection(): NetConnection;
  }
  export default connection;
}
