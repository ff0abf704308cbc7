/**
 * Proof against a real, independent client: Ceph RGW (16) accepts the broker as an OIDC provider.
 * RGW fetches the broker's discovery document and JWKS over HTTP on every
 * `AssumeRoleWithWebIdentity`, checks the token, and hands out temporary S3 credentials whose
 * session tag (`agentkeys_actor_omni`, from the `https://aws.amazon.com/tags` claim) confines the
 * agent to its own `bots/<actor hex>/` prefix.
 *
 * What Ceph 16 can and cannot express (see notes/ceph-rgw.md):
 * - `CreateOpenIDConnectProvider` needs a non-empty `ThumbprintList` (400 without) but 16.2.15 does
 *   not compare it with the JWKS certificate (a wrong one was accepted when tried by hand); the
 *   test registers the real one, the SHA-1 (hex) of the first JWKS key's `x5c` certificate;
 * - a policy `Resource` cannot contain `${aws:PrincipalTag/...}` (400 at `PutRolePolicy`), so the
 *   role policy has one statement per actor, each with a `StringEquals` condition on
 *   `aws:PrincipalTag/agentkeys_actor_omni`; an inline session `Policy` on
 *   `AssumeRoleWithWebIdentity` also narrows a broader role;
 * - STS errors come back as S3-style `<Error><Code>AccessDenied</Code>…` (no `<ErrorResponse>`),
 *   which `@aws-sdk/client-sts` cannot parse: it reports them as `Unknown` with HTTP 403;
 * - objects written with STS credentials are owned by the federated user `$oidc$<sub>`: the
 *   bucket owner cannot read them unless they are written with `bucket-owner-full-control`.
 *
 * @module
 */

import {
  CreateOpenIDConnectProviderCommand,
  CreateRoleCommand,
  IAMClient,
  PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import {
  AssumeRoleWithWebIdentityCommand,
  type AssumeRoleWithWebIdentityCommandInput,
  type Credentials,
  STSClient,
} from "@aws-sdk/client-sts";
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { generateKeyPair, SignJWT } from "jose";
import { S3BlobStore } from "../../lib/store/mod.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { newAccount, testService } from "../support/broker_harness.ts";
import { type CephCluster, startCeph } from "../support/ceph.ts";

/** The audience the provider and the role trust. */
const AUDIENCE = "agentkeys-rgw";
/** A second client id the provider knows but the role's trust policy does not allow. */
const OTHER_CLIENT = "registered-elsewhere";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** What an AWS SDK call that was refused threw: the error code (name) and HTTP status. */
async function refusal(promise: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await promise;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode };
  }
  throw new Error("expected the call to be refused, it succeeded");
}

/** RGW's STS refusals: 403 with an S3-style body the STS client cannot name (see @module). */
const STS_REFUSED = { name: "Unknown", status: 403 };
const ACCESS_DENIED = { name: "AccessDenied", status: 403 };

function freePort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}

function s3Client(
  ceph: CephCluster,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
): S3Client {
  return new S3Client({
    endpoint: ceph.endpoint,
    region: ceph.region,
    credentials,
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    maxAttempts: 1,
  });
}

function sessionCredentials(c: Credentials) {
  return {
    accessKeyId: c.AccessKeyId!,
    secretAccessKey: c.SecretAccessKey!,
    sessionToken: c.SessionToken!,
  };
}

Deno.test({
  name: "Ceph RGW trades a broker-minted OIDC token for S3 credentials confined to the actor",
  // The SDK clients keep pooled sockets to RGW open between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const ceph = await startCeph();
    try {
      // RGW fetches discovery and JWKS from the issuer URL: serve the app at its public URL.
      const port = freePort();
      const issuer = `http://127.0.0.1:${port}`;
      const idp = `127.0.0.1:${port}`;
      // Every audience the steps below ask for; RGW, not the broker, must refuse the odd ones.
      await using s = await testService({
        publicUrl: issuer,
        oidcAudiences: [AUDIENCE, "some-other-service", OTHER_CLIENT],
      });
      const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, s.app.fetch);
      const admin = { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey };
      const iam = new IAMClient({
        endpoint: ceph.endpoint,
        region: ceph.region,
        credentials: admin,
        maxAttempts: 1,
      });
      // AssumeRoleWithWebIdentity is unsigned: the token is the only credential.
      const sts = new STSClient({ endpoint: ceph.endpoint, region: ceph.region, maxAttempts: 1 });
      const adminS3 = s3Client(ceph, admin);
      const clients: { destroy(): void }[] = [iam, sts, adminS3];
      const stores: S3BlobStore[] = [];
      try {
        const bucket = `sts-${crypto.randomUUID()}`;
        await adminS3.send(new CreateBucketCommand({ Bucket: bucket }));

        // Two agents of one operator, each with its own device.
        const operator = newAccount();
        const deviceA = newAccount();
        const deviceB = newAccount();
        const actorA = s.identity.register(operator.address, "bot-a", deviceA.address)
          .actorOmni.slice(2);
        const actorB = s.identity.register(operator.address, "bot-b", deviceB.address)
          .actorOmni.slice(2);
        const sessionA = await s.loginDevice(deviceA);
        const sessionB = await s.loginDevice(deviceB);
        const mint = async (session: string, audience = AUDIENCE) => {
          const res = await s.call("POST", "/v1/mint-oidc-jwt", session, { audience });
          assertEquals(res.status, 200, JSON.stringify(res.body));
          return res.body.jwt as string;
        };
        const trust = (actions: string[]) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [{
              Effect: "Allow",
              Principal: { Federated: [`arn:aws:iam:::oidc-provider/${idp}`] },
              Action: actions,
              Condition: { StringEquals: { [`${idp}:aud`]: AUDIENCE } },
            }],
          });
        const createRole = async (name: string, actions: string[], statements?: unknown[]) => {
          const role = await iam.send(
            new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust(actions) }),
          );
          if (statements) {
            await iam.send(
              new PutRolePolicyCommand({
                RoleName: name,
                PolicyName: "agents",
                PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: statements }),
              }),
            );
          }
          return role.Role!.Arn!;
        };
        const BOTH = ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"];
        const objectArn = (key: string) => `arn:aws:s3:::${bucket}/${key}`;

        let roleArn = "";
        await t.step(
          "the operator registers the broker as OIDC provider and a per-actor role",
          async () => {
            // The thumbprint is the SHA-1 (hex) of the first JWKS key's x5c certificate, taken from
            // the served JWKS as any operator would.
            const jwks = await (await fetch(`${issuer}/.well-known/jwks.json`)).json();
            assertEquals(jwks.keys[0].kid, s.broker.options.k2.current.kid);
            const der = Uint8Array.fromBase64(jwks.keys[0].x5c[0]);
            const thumbprint = new Uint8Array(await crypto.subtle.digest("SHA-1", der)).toHex();
            const provider = await iam.send(
              new CreateOpenIDConnectProviderCommand({
                Url: issuer,
                ClientIDList: [AUDIENCE, OTHER_CLIENT],
                ThumbprintList: [thumbprint],
              }),
            );
            assertEquals(provider.OpenIDConnectProviderArn, `arn:aws:iam:::oidc-provider/${idp}`);

            // One statement per actor: RGW 16 refuses `${aws:PrincipalTag/...}` in `Resource`.
            const perActor = (actor: string) => ({
              Effect: "Allow",
              Action: ["s3:PutObject", "s3:GetObject"],
              Resource: [objectArn(`bots/${actor}/*`)],
              Condition: { StringEquals: { "aws:PrincipalTag/agentkeys_actor_omni": actor } },
            });
            roleArn = await createRole("agentkeys-agents", BOTH, [
              perActor(actorA),
              perActor(actorB),
            ]);

            // What AWS would take, one statement for all actors, is refused by this Ceph.
            assertEquals(
              await refusal(iam.send(
                new PutRolePolicyCommand({
                  RoleName: "agentkeys-agents",
                  PolicyName: "tag-variable",
                  PolicyDocument: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{
                      Effect: "Allow",
                      Action: ["s3:PutObject"],
                      Resource: [objectArn("bots/${aws:PrincipalTag/agentkeys_actor_omni}/*")],
                    }],
                  }),
                }),
              )),
              { name: "Unknown", status: 400 },
            );
          },
        );

        const assume = (token: string, arn = roleArn, extra = {}) =>
          sts.send(
            new AssumeRoleWithWebIdentityCommand(
              {
                RoleArn: arn,
                // RGW answers 400 to a name shorter than 2 characters, as AWS does.
                RoleSessionName: "agentkeys-agent",
                WebIdentityToken: token,
                DurationSeconds: 900,
                ...extra,
              } satisfies AssumeRoleWithWebIdentityCommandInput,
            ),
          );
        const keyA = `bots/${actorA}/credentials/x.enc`;
        const keyB = `bots/${actorB}/credentials/x.enc`;

        let s3A: S3Client | undefined;
        await t.step(
          "agent A's token becomes S3 credentials that work on its own prefix",
          async () => {
            const credentials = (await assume(await mint(sessionA))).Credentials!;
            assert(credentials.AccessKeyId && credentials.SecretAccessKey);
            assert(credentials.SessionToken);
            assert(credentials.Expiration!.getTime() > Date.now());
            // Through the project's own S3 store.
            const store = new S3BlobStore({
              endpoint: ceph.endpoint,
              region: ceph.region,
              bucket,
              credentials: sessionCredentials(credentials),
              maxAttempts: 1,
            });
            stores.push(store);
            await store.put(keyA, enc.encode("sealed-a"));
            assertEquals(dec.decode((await store.get(keyA))!.body), "sealed-a");
            s3A = s3Client(ceph, sessionCredentials(credentials));
            clients.push(s3A);
          },
        );

        await t.step(
          "agent A gets 403 AccessDenied on agent B's prefix and outside bots/",
          async () => {
            // B writes its own blob with its own credentials, so A's GET meets an existing object.
            const s3B = s3Client(
              ceph,
              sessionCredentials((await assume(await mint(sessionB))).Credentials!),
            );
            clients.push(s3B);
            await s3B.send(
              new PutObjectCommand({ Bucket: bucket, Key: keyB, Body: enc.encode("sealed-b") }),
            );

            const put = (key: string) =>
              s3A!.send(
                new PutObjectCommand({ Bucket: bucket, Key: key, Body: enc.encode("evil") }),
              );
            assertEquals(await refusal(put(keyB)), ACCESS_DENIED);
            assertEquals(await refusal(put(`bots/${actorB}/new.enc`)), ACCESS_DENIED);
            assertEquals(
              await refusal(s3A!.send(new GetObjectCommand({ Bucket: bucket, Key: keyB }))),
              ACCESS_DENIED,
            );
            assertEquals(await refusal(put("elsewhere/x.enc")), ACCESS_DENIED);
            assertEquals(await refusal(put(`bots/${actorA}-suffix/x.enc`)), ACCESS_DENIED);
            // B's blob is untouched.
            const still = await s3B.send(new GetObjectCommand({ Bucket: bucket, Key: keyB }));
            assertEquals(await still.Body!.transformToString(), "sealed-b");
          },
        );

        await t.step(
          "objects written with STS credentials belong to the federated user",
          async () => {
            // The bucket owner is refused B's plain PUT, and reads it once B grants it.
            assertEquals(
              await refusal(adminS3.send(new GetObjectCommand({ Bucket: bucket, Key: keyB }))),
              ACCESS_DENIED,
            );
            const s3B = s3Client(
              ceph,
              sessionCredentials((await assume(await mint(sessionB))).Credentials!),
            );
            clients.push(s3B);
            const granted = `bots/${actorB}/credentials/granted.enc`;
            await s3B.send(
              new PutObjectCommand({
                Bucket: bucket,
                Key: granted,
                Body: enc.encode("sealed-b2"),
                ACL: "bucket-owner-full-control",
              }),
            );
            const read = await adminS3.send(new GetObjectCommand({ Bucket: bucket, Key: granted }));
            assertEquals(await read.Body!.transformToString(), "sealed-b2");
          },
        );

        await t.step("STS refuses a token for an audience the provider does not list", async () => {
          const token = await mint(sessionA, "some-other-service");
          assertEquals(await refusal(assume(token)), STS_REFUSED);
          // On the wire: an S3-style error document.
          const raw = await fetch(ceph.endpoint, {
            method: "POST",
            body: new URLSearchParams({
              Action: "AssumeRoleWithWebIdentity",
              Version: "2011-06-15",
              RoleArn: roleArn,
              RoleSessionName: "agentkeys-agent",
              WebIdentityToken: token,
            }),
          });
          assertEquals(raw.status, 403);
          assertMatch(await raw.text(), /<Error><Code>AccessDenied<\/Code>/);
        });

        await t.step(
          "STS refuses a listed audience that the role's trust condition excludes",
          async () => {
            assertEquals(await refusal(assume(await mint(sessionA, OTHER_CLIENT))), STS_REFUSED);
          },
        );

        await t.step("STS refuses an expired token", async () => {
          // Minted with the broker's clock 20 minutes back: it expired 5 minutes ago.
          s.advance(-20 * 60_000);
          let expired: string;
          try {
            expired = await mint(await s.loginDevice(deviceA));
          } finally {
            s.advance(20 * 60_000);
          }
          assertEquals(await refusal(assume(expired)), STS_REFUSED);
        });

        await t.step("STS refuses a token signed by a foreign key", async () => {
          // Well-formed, the current kid, right issuer and audience; only the key is wrong.
          const { privateKey } = await generateKeyPair("ES256");
          const forged = await new SignJWT({
            agentkeys_actor_omni: actorB,
            "https://aws.amazon.com/tags": {
              principal_tags: { agentkeys_actor_omni: [actorB] },
              transitive_tag_keys: ["agentkeys_actor_omni"],
            },
          })
            .setProtectedHeader({ alg: "ES256", typ: "JWT", kid: s.broker.options.k2.current.kid })
            .setIssuer(issuer)
            .setSubject(actorB)
            .setAudience(AUDIENCE)
            .setIssuedAt()
            .setExpirationTime("10m")
            .sign(privateKey);
          assertEquals(await refusal(assume(forged)), STS_REFUSED);
        });

        await t.step(
          "STS refuses session tags for a role that does not allow sts:TagSession",
          async () => {
            const arn = await createRole("agentkeys-no-tags", ["sts:AssumeRoleWithWebIdentity"]);
            assertEquals(await refusal(assume(await mint(sessionA), arn)), STS_REFUSED);
          },
        );

        await t.step(
          "alternatively, an inline session policy narrows a role open to all bots/",
          async () => {
            const arn = await createRole("agentkeys-all-bots", BOTH, [{
              Effect: "Allow",
              Action: ["s3:PutObject", "s3:GetObject"],
              Resource: [objectArn("bots/*")],
            }]);
            const narrowed = s3Client(
              ceph,
              sessionCredentials(
                (await assume(await mint(sessionA), arn, {
                  Policy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{
                      Effect: "Allow",
                      Action: ["s3:PutObject", "s3:GetObject"],
                      Resource: [objectArn(`bots/${actorA}/*`)],
                    }],
                  }),
                })).Credentials!,
              ),
            );
            clients.push(narrowed);
            const put = (key: string) =>
              narrowed.send(
                new PutObjectCommand({ Bucket: bucket, Key: key, Body: enc.encode("p") }),
              );
            await put(`bots/${actorA}/session-policy.enc`);
            assertEquals(await refusal(put(`bots/${actorB}/session-policy.enc`)), ACCESS_DENIED);
            // Without the session policy, the same role reaches B's prefix: the policy narrowed it.
            const broad = s3Client(
              ceph,
              sessionCredentials((await assume(await mint(sessionA), arn)).Credentials!),
            );
            clients.push(broad);
            await broad.send(
              new PutObjectCommand({
                Bucket: bucket,
                Key: `bots/${actorB}/session-policy.enc`,
                Body: enc.encode("p"),
              }),
            );
          },
        );
      } finally {
        for (const store of stores) await store.close();
        for (const client of clients) client.destroy();
        await server.shutdown();
      }
    } finally {
      await ceph.stop();
    }
  },
});
