/**
 * `deno task cli sts-policy` (issue 13): the IAM role an agent assumes with its OIDC token
 * (`POST /v1/mint-oidc-jwt`), keyed on the `agentkeys_actor_omni` session tag — the rule that
 * replaces the reference implementation's `agentkeys_user_wallet` one, since objects now live
 * under `bots/<actor omni hex>/`.
 *
 * - **AWS**: one statement for every actor, `${aws:PrincipalTag/agentkeys_actor_omni}` in
 *   `Resource` and in the `s3:prefix` condition of `ListBucket`.
 * - **Ceph RGW 16** refuses a tag variable in `Resource` (400 at `PutRolePolicy`, notes/ceph-rgw.md),
 *   so one statement per actor, each conditioned on `aws:PrincipalTag/agentkeys_actor_omni`
 *   equal to that actor (tests/broker/sts.test.ts shows it isolates actors); re-print and re-put
 *   it when agents are added.
 *
 * @module
 */

/** What the policy is for. */
export interface StsPolicyInput {
  target: "aws" | "rgw";
  bucket: string;
  /** The issuer host as IAM names the provider (`host[:port][/path]`, no scheme). */
  provider: string;
  /** The audience the tokens carry (`aud`). */
  audience: string;
  /** Actor omni hexes (64 hex, no 0x): needed for `rgw`, ignored for `aws`. */
  actors: string[];
  readOnly?: boolean;
}

const TAG = "agentkeys_actor_omni";

/**
 * The trust policy (who may assume the role: tokens of this issuer and audience, with session
 * tags) and the permissions policy for `input.target`.
 *
 * ```ts
 * stsPolicies({ target: "rgw", bucket: "vault", provider: "keys.example.com", audience: "sts.amazonaws.com", actors: ["ab…"] });
 * ```
 */
export function stsPolicies(input: StsPolicyInput): { trust: unknown; role: unknown } {
  const bucketArn = `arn:aws:s3:::${input.bucket}`;
  const actions = input.readOnly
    ? ["s3:GetObject"]
    : ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"];
  const trust = {
    Version: "2012-10-17",
    Statement: [{
      Effect: "Allow",
      Principal: {
        Federated: input.target === "aws"
          ? `arn:aws:iam::<ACCOUNT_ID>:oidc-provider/${input.provider}`
          : `arn:aws:iam:::oidc-provider/${input.provider}`,
      },
      Action: ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
      Condition: { StringEquals: { [`${input.provider}:aud`]: input.audience } },
    }],
  };
  if (input.target === "aws") {
    const own = `bots/\${aws:PrincipalTag/${TAG}}/`;
    return {
      trust,
      role: {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "OwnPrefixObjects",
            Effect: "Allow",
            Action: actions,
            Resource: [`${bucketArn}/${own}*`],
          },
          {
            Sid: "OwnPrefixList",
            Effect: "Allow",
            Action: ["s3:ListBucket"],
            Resource: [bucketArn],
            Condition: { StringLike: { "s3:prefix": [`${own}*`] } },
          },
        ],
      },
    };
  }
  for (const a of input.actors) {
    if (!/^[0-9a-f]{64}$/.test(a)) throw new Error(`not an actor omni hex: ${a}`);
  }
  return {
    trust,
    role: {
      Version: "2012-10-17",
      Statement: input.actors.map((actor, i) => ({
        Sid: `Actor${i}`,
        Effect: "Allow",
        Action: actions,
        Resource: [`${bucketArn}/bots/${actor}/*`],
        Condition: { StringEquals: { [`aws:PrincipalTag/${TAG}`]: actor } },
      })),
    },
  };
}
