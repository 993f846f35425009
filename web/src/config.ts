// Runtime configuration, read from config.json next to index.html, so one build runs against
// any gateway: `make run` serves its own, a deployment writes its own.

export interface AppConfig {
  /** The Envoy gateway's address (gRPC-Web), e.g. http://127.0.0.1:8080. */
  gatewayUrl: string;
  /** With both set, the lifter signs in with Supabase Auth (email and password). */
  supabaseUrl: string;
  supabaseAnonKey: string;
  /** Development: a sign-in that takes a token minted by `make token`. */
  allowDevTokens: boolean;
}

const DEFAULTS: AppConfig = {
  gatewayUrl: "http://127.0.0.1:8080",
  supabaseUrl: "",
  supabaseAnonKey: "",
  allowDevTokens: true,
};

export async function loadConfig(url = "config.json"): Promise<AppConfig> {
  try {
    const response = await fetch(url, { cache: "no-cache" });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const raw = (await response.json()) as Partial<AppConfig>;
    const config = { ...DEFAULTS, ...raw };
    config.gatewayUrl = config.gatewayUrl.replace(/\/+$/, "");
    return config;
  } catch (error) {
    console.warn("config.json unreadable, using the development defaults", error);
    return DEFAULTS;
  }
}

export function supabaseConfigured(config: AppConfig): boolean {
  return Boolean(config.supabaseUrl && config.supabaseAnonKey);
}
