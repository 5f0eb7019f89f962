import type { FastifyInstance } from 'fastify';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import { normalisePairingCode, PairingApproval, TokenRequest } from '../../contract/enrolment.ts';
import { compileSchema, describeErrors } from '../../lib/validate.ts';
import type { EnrolmentService } from './service.ts';

// HQ's HTTP API for enrolment (behind HQ_API_TOKEN like the rest of /api/):
//
//   POST /api/v1/enrolment-tokens           201 {token, storeId, deviceId, expiresAt, caFingerprint, estUrl}  body {storeId, deviceId?, ttlSeconds?}
//   GET  /api/v1/pairings                   200 {pairings:[{code, deviceId, address, firstSeenAt, lastSeenAt, status, storeId}]}
//   POST /api/v1/pairings/{code}/approve    200 pairing | 404   body {storeId}
//   GET  /api/v1/enrolled-devices           200 {devices:[{deviceId, storeId, serial, notAfter, revokedAt}]}
//   POST /api/v1/devices/{deviceId}/revoke  200 {deviceId, serials} | 404   the CRL is rewritten at once
//   GET  /crl                               200 the CRL (PEM; public, no token)

const checkToken = compileSchema(TokenRequest);
const checkApproval = compileSchema(PairingApproval);

function body<T>(check: ReturnType<typeof compileSchema>, value: unknown): T {
  if (!check(value)) throw new TillboxError(ErrorCode.Validation, `body: ${describeErrors(check.errors)}`);
  return value as T;
}

export function registerEnrolmentRoutes(app: FastifyInstance, service: EnrolmentService): void {
  app.post('/api/v1/enrolment-tokens', async (req, reply) => {
    const b = body<TokenRequest>(checkToken, req.body ?? {});
    reply.code(201);
    return service.createToken(b.storeId, b.deviceId ?? null, b.ttlSeconds);
  });
  app.get('/api/v1/pairings', async () => ({ pairings: service.pairings() }));
  app.post<{ Params: { code: string } }>('/api/v1/pairings/:code/approve', async (req) => {
    const code = normalisePairingCode(req.params.code);
    if (!code) throw new TillboxError(ErrorCode.Validation, 'a pairing code looks like 7KQ-4MZ');
    const b = body<PairingApproval>(checkApproval, req.body ?? {});
    const p = await service.approvePairing(code, b.storeId);
    if (!p) throw new TillboxError(ErrorCode.NotFound, `no box has asked with pairing code ${code}`);
    return p;
  });
  app.get('/api/v1/enrolled-devices', async () => ({
    devices: service.devices().map(({ deviceId, storeId, serial, notAfter, revokedAt }) => ({ deviceId, storeId, serial, notAfter, revokedAt })),
  }));
  app.post<{ Params: { deviceId: string } }>('/api/v1/devices/:deviceId/revoke', async (req) => {
    const r = await service.revoke(req.params.deviceId);
    if (!r) throw new TillboxError(ErrorCode.NotFound, `no enrolled device ${req.params.deviceId}`);
    return r;
  });
  app.get('/crl', async (_req, reply) => {
    reply.type('application/pkix-crl');
    return service.crlPem();
  });
}
