// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {AgentKeysIds, AgentRegistry} from "./AgentRegistry.sol";

/// @title ScopeRegistry — which services each agent may use.
/// @notice scope[operator_omni][actor_omni] → {service hashes, read_only, updated_at}, where a
/// service hash is keccak256(bytes(serviceName)). Only the operator's own wallet can set or
/// revoke a scope, and only for an agent that this operator registered in `registry`.
///
/// Revoked agents: `isServiceInScope` answers (false, false) for an agent whose registration
/// is revoked, whatever its stored scope says. The scope answer is an authorization answer,
/// and a client that checks only the scope (and forgets the revocation check) must still
/// fail closed. `getScope` keeps returning the stored record, which is history, not permission.
contract ScopeRegistry {
    /// Bounds the gas of one setScope and the size of getScope's answer.
    uint256 public constant MAX_SERVICES = 128;

    struct Scope {
        bytes32[] serviceHashes;
        bool readOnly;
        uint64 updatedAt;
        /// True between a setScope and the next revokeScope.
        bool active;
        /// Bumped on every write: membership entries of older versions are dead, which clears
        /// a scope in O(1) instead of deleting each mapping entry.
        uint64 version;
    }

    AgentRegistry public immutable registry;

    mapping(bytes32 => mapping(bytes32 => Scope)) private scopes;
    /// keccak256(operator, actor, version, service hash) → in scope.
    mapping(bytes32 => bool) private member;

    event ScopeSet(
        bytes32 indexed operatorOmni, bytes32 indexed actorOmni, bytes32[] serviceHashes, bool readOnly
    );
    event ScopeRevoked(bytes32 indexed operatorOmni, bytes32 indexed actorOmni);

    error NotYourAgent(bytes32 actorOmni, bytes32 callerOmni);
    error AgentIsRevoked(bytes32 actorOmni);
    error TooManyServices(uint256 count, uint256 max);
    error ZeroServiceHash();
    error DuplicateService(bytes32 serviceHash);
    error NoScope(bytes32 actorOmni);

    constructor(AgentRegistry registry_) {
        registry = registry_;
    }

    /// Replaces the scope of the caller's agent `actorOmni`. An empty list is allowed: the agent
    /// then may use no service (a pause that keeps the agent registered).
    function setScope(bytes32 actorOmni, bytes32[] calldata serviceHashes, bool readOnly) external {
        (bytes32 op, bool revoked) = ownAgent(actorOmni);
        if (revoked) revert AgentIsRevoked(actorOmni);
        if (serviceHashes.length > MAX_SERVICES) {
            revert TooManyServices(serviceHashes.length, MAX_SERVICES);
        }
        Scope storage s = scopes[op][actorOmni];
        uint64 version = s.version + 1;
        for (uint256 i = 0; i < serviceHashes.length; ++i) {
            bytes32 h = serviceHashes[i];
            if (h == bytes32(0)) revert ZeroServiceHash();
            bytes32 key = memberKey(op, actorOmni, version, h);
            if (member[key]) revert DuplicateService(h);
            member[key] = true;
        }
        s.serviceHashes = serviceHashes;
        s.readOnly = readOnly;
        s.updatedAt = uint64(block.timestamp);
        s.active = true;
        s.version = version;
        emit ScopeSet(op, actorOmni, serviceHashes, readOnly);
    }

    /// Clears the scope of the caller's agent (also allowed after the agent was revoked, as
    /// tidying up). Reverts with NoScope when there is nothing to clear, so a mistaken actor
    /// omni does not pass silently.
    function revokeScope(bytes32 actorOmni) external {
        (bytes32 op,) = ownAgent(actorOmni);
        Scope storage s = scopes[op][actorOmni];
        if (!s.active) revert NoScope(actorOmni);
        delete s.serviceHashes;
        s.readOnly = false;
        s.updatedAt = uint64(block.timestamp);
        s.active = false;
        s.version += 1;
        emit ScopeRevoked(op, actorOmni);
    }

    /// Whether `serviceHash` is in the scope of agent `actorOmni` of `operatorOmni`, and whether
    /// that scope is read-only. (false, false) when not allowed, including for revoked agents.
    function isServiceInScope(bytes32 operatorOmni, bytes32 actorOmni, bytes32 serviceHash)
        external
        view
        returns (bool allowed, bool readOnly)
    {
        (bytes32 owner,, bool revoked) = registry.agentByActor(actorOmni);
        if (owner != operatorOmni || revoked) return (false, false);
        Scope storage s = scopes[operatorOmni][actorOmni];
        if (!member[memberKey(operatorOmni, actorOmni, s.version, serviceHash)]) return (false, false);
        return (true, s.readOnly);
    }

    /// The stored scope (empty list, false, 0 when never set; empty list and the revocation
    /// time after revokeScope).
    function getScope(bytes32 operatorOmni, bytes32 actorOmni)
        external
        view
        returns (bytes32[] memory serviceHashes, bool readOnly, uint64 updatedAt)
    {
        Scope storage s = scopes[operatorOmni][actorOmni];
        return (s.serviceHashes, s.readOnly, s.updatedAt);
    }

    /// The caller's operator omni and the agent's revocation flag, after checking that
    /// `actorOmni` is an agent the caller registered (an unknown actor has a zero owner, which
    /// never equals a sha256 output in practice, so it fails the same check).
    function ownAgent(bytes32 actorOmni) private view returns (bytes32 op, bool revoked) {
        op = AgentKeysIds.operatorOmni(msg.sender);
        bytes32 owner;
        (owner,, revoked) = registry.agentByActor(actorOmni);
        if (owner != op) revert NotYourAgent(actorOmni, op);
    }

    function memberKey(bytes32 op, bytes32 actor, uint64 version, bytes32 serviceHash)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(op, actor, version, serviceHash));
    }
}
