// Types of keyward-api-keys.js: the ApiKeyService shape Zudoku's `apiKeys` option takes.

export interface KeywardApiKey {
  id: string;
  key: string;
  description?: string;
  createdOn?: string;
  updatedOn?: string;
  expiresOn?: string;
}

export interface KeywardApiConsumer {
  /** The consumer's name (what /v1/me's paths use). */
  id: string;
  label: string;
  description?: string;
  createdOn?: string;
  updatedOn?: string;
  apiKeys: KeywardApiKey[];
}

/** What the service needs of Zudoku's context: a way to sign a request as the person. */
export interface SigningContext {
  signRequest(request: Request): Promise<Request>;
}

export interface KeywardApiKeysOptions {
  /** The Worker's API prefix URL, e.g. https://api.example.com/_keyward */
  endpoint: string;
  /** The consumer `createKey` adds keys to when the person manages several. */
  consumer?: string;
}

export interface KeywardApiKeyService {
  getConsumers(context: SigningContext): Promise<KeywardApiConsumer[]>;
  createKey(args: {
    apiKey: { description?: string; expiresOn?: string };
    context: SigningContext;
  }): Promise<void>;
  rollKey(consumerId: string, context: SigningContext): Promise<void>;
  deleteKey(consumerId: string, keyId: string, context: SigningContext): Promise<void>;
  updateKeyDescription(
    apiKey: { id: string; description: string },
    context: SigningContext,
  ): Promise<void>;
}

export function keywardApiKeys(options: KeywardApiKeysOptions): KeywardApiKeyService;
