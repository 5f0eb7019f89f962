import type { FastifyInstance } from 'fastify';
import type { IdentityStatus } from '../../contract/enrolment.ts';

/** GET /api/v1/identity: the box's certificate state (what `tillbox identity show` prints; no key material). */
export function registerIdentityRoute(app: FastifyInstance, status: () => Promise<IdentityStatus>): void {
  app.get(
    '/api/v1/identity',
    { config: { doc: { success: '200 `{ deviceId, storeId, state, subject, issuer, serial, notBefore, notAfter, fingerprint, daysLeft, pairingCode? }`', notes: 'any till' } } },
    async () => status(),
  );
}
