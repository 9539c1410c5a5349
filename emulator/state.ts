/**
 * The emulator's in-memory world: OAuth clients, grants, codes and tokens, mailboxes,
 * settings and per-user statistics. One instance per emulator, nothing module-level.
 */
import { Mailbox } from "./mailbox.ts";
import { DEFAULT_QUOTA_UNITS_PER_MINUTE, QuotaMeter } from "./quota.ts";

export interface Client {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** Testing-status apps get refresh tokens that die after 7 days. */
  testing: boolean;
}

/** A user's consent to one client; revoking it kills every token issued under it. */
export interface Grant {
  id: number;
  clientId: string;
  email: string;
  scopes: string[];
  revoked: boolean;
  /** Whether a refresh token was already issued for this grant. */
  refreshIssued: boolean;
}

export interface AuthCode {
  grantId: number;
  clientId: string;
  redirectUri: string;
  scopes: string[];
  codeChallenge?: string;
  codeChallengeMethod?: string;
  issueRefreshToken: boolean;
  expiresAt: number;
  used: boolean;
}

export interface AccessToken {
  token: string;
  grantId: number;
  /** The authorization code this token descends from (directly or through a refresh). */
  code?: string;
  clientId: string;
  email: string;
  scopes: string[];
  expiresAt: number;
}

export interface RefreshToken {
  token: string;
  grantId: number;
  /** The authorization code that issued this token. */
  code?: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  /** Replaced by a rotation: presenting it again is a reuse. */
  retired?: boolean;
}

export interface Settings {
  accessTokenTtlSeconds: number;
  quotaUnitsPerMinute: number;
  latencyMs: number;
  faults?: { status: number; rate: number };
  /**
   * Each refresh answers a new refresh token and retires the one used; presenting a retired one
   * again revokes the whole grant (reuse detection, OAuth 2.0 Security BCP §4.14.2). Google
   * does not rotate; standards-compliant servers may.
   * @defaultValue `false`
   */
  rotateRefreshTokens: boolean;
}

export interface UserStats {
  requests: number;
  quotaUnits: number;
  inFlight: number;
  maxInFlight: number;
  refreshes: number;
}

export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 3599;
export const AUTH_CODE_TTL_MS = 10 * 60 * 1000;
export const TESTING_REFRESH_TTL_SECONDS = 604_799;

export class EmulatorState {
  readonly clients = new Map<string, Client>();
  readonly mailboxes = new Map<string, Mailbox>();
  readonly grants = new Map<number, Grant>();
  readonly codes = new Map<string, AuthCode>();
  readonly accessTokens = new Map<string, AccessToken>();
  readonly refreshTokens = new Map<string, RefreshToken>();
  readonly stats = new Map<string, UserStats>();
  readonly quota: QuotaMeter;
  settings: Settings = {
    accessTokenTtlSeconds: DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
    quotaUnitsPerMinute: DEFAULT_QUOTA_UNITS_PER_MINUTE,
    latencyMs: 0,
    rotateRefreshTokens: false,
  };
  private grantSeq = 0;

  constructor(readonly now: () => number) {
    this.quota = new QuotaMeter(now);
  }

  /** The mailbox for `email`, created empty on first use (e.g. a new address typed at consent). */
  mailbox(email: string, name?: string): Mailbox {
    const key = email.toLowerCase();
    let box = this.mailboxes.get(key);
    if (!box) {
      box = new Mailbox(key, name ?? defaultName(key), this.now);
      this.mailboxes.set(key, box);
    } else if (name) {
      box.name = name;
    }
    return box;
  }

  userStats(email: string): UserStats {
    const key = email.toLowerCase();
    let s = this.stats.get(key);
    if (!s) {
      s = { requests: 0, quotaUnits: 0, inFlight: 0, maxInFlight: 0, refreshes: 0 };
      this.stats.set(key, s);
    }
    return s;
  }

  /** The live grant for this client and user, if the user consented. */
  liveGrantFor(clientId: string, email: string): Grant | undefined {
    for (const grant of this.grants.values()) {
      if (!grant.revoked && grant.clientId === clientId && grant.email === email) return grant;
    }
    return undefined;
  }

  /** The live grant for this client and user, or a new one. */
  grantFor(clientId: string, email: string): Grant {
    const live = this.liveGrantFor(clientId, email);
    if (live) return live;
    this.grantSeq += 1;
    const grant: Grant = { id: this.grantSeq, clientId, email, scopes: [], revoked: false, refreshIssued: false };
    this.grants.set(grant.id, grant);
    return grant;
  }

  liveGrant(grantId: number): Grant | undefined {
    const grant = this.grants.get(grantId);
    return grant && !grant.revoked ? grant : undefined;
  }

  /**
   * Revokes every token that descends from `code`: a replayed code may be stolen, so what it
   * issued is withdrawn (RFC 6749 §4.1.2).
   */
  revokeCode(code: string): void {
    for (const [key, t] of this.accessTokens) if (t.code === code) this.accessTokens.delete(key);
    for (const [key, t] of this.refreshTokens) if (t.code === code) this.refreshTokens.delete(key);
  }

  revokeGrant(grant: Grant): void {
    grant.revoked = true;
    for (const [key, t] of this.accessTokens) if (t.grantId === grant.id) this.accessTokens.delete(key);
    for (const [key, t] of this.refreshTokens) if (t.grantId === grant.id) this.refreshTokens.delete(key);
  }
}

function defaultName(email: string): string {
  const local = email.split("@")[0] ?? email;
  return local
    .split(/[._-]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join(" ");
}
