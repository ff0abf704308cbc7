// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @title Identifier derivations of ARCHITECTURE §2, computed on chain.
/// @notice Kept in a library so that ScopeRegistry derives the caller's operator omni with the
/// very same code as AgentRegistry (one definition, no drift). The TypeScript twin is
/// `lib/identity/mod.ts`; `tests/identity` checks that both give the same bytes.
library AgentKeysIds {
    bytes16 private constant HEX_DIGITS = "0123456789abcdef";

    /// operator_omni = sha256("agentkeys" ‖ "evm" ‖ lowercase "0x…" address as ASCII).
    function operatorOmni(address wallet) internal pure returns (bytes32) {
        return sha256(abi.encodePacked("agentkeys", "evm", lowerHex(wallet)));
    }

    /// actor_omni = sha256("agentkeys-hdkd-v1" ‖ 32 raw bytes of operator_omni ‖ "//" ‖ label
    /// ‖ "/" ‖ generation in decimal).
    function agentActorOmni(bytes32 operatorOmni_, string memory label, uint32 generation)
        internal
        pure
        returns (bytes32)
    {
        return sha256(
            abi.encodePacked("agentkeys-hdkd-v1", operatorOmni_, "//", label, "/", decimal(generation))
        );
    }

    /// The 42 ASCII bytes "0x" + 40 lowercase hex digits of `wallet` (what §2 hashes; an EIP-55
    /// checksummed string would give a different omni, so the case is fixed here).
    function lowerHex(address wallet) internal pure returns (bytes memory) {
        return lowerHexDigits(uint160(wallet), 40);
    }

    /// The 66 ASCII bytes "0x" + 64 lowercase hex digits of `value`.
    function lowerHex32(bytes32 value) internal pure returns (bytes memory) {
        return lowerHexDigits(uint256(value), 64);
    }

    /// "0x" + the low `digits` nibbles of `v`, most significant first, lowercase.
    function lowerHexDigits(uint256 v, uint256 digits) private pure returns (bytes memory out) {
        out = new bytes(digits + 2);
        out[0] = "0";
        out[1] = "x";
        for (uint256 i = digits + 1; i > 1; --i) {
            out[i] = HEX_DIGITS[v & 0x0f];
            v >>= 4;
        }
    }

    /// `value` as ASCII decimal without leading zeros ("0" for zero).
    function decimal(uint256 value) internal pure returns (bytes memory out) {
        uint256 digits = 1;
        for (uint256 v = value / 10; v != 0; v /= 10) ++digits;
        out = new bytes(digits);
        uint256 rest = value;
        for (uint256 i = digits; i > 0; --i) {
            out[i - 1] = bytes1(uint8(48 + (rest % 10)));
            rest /= 10;
        }
    }

    /// ^[a-z0-9-]{1,32}$ — the label pattern of §2. Enforced on chain so that no client can
    /// register an agent whose actor omni the rest of the system could not re-derive.
    function isValidLabel(string memory label) internal pure returns (bool) {
        bytes memory b = bytes(label);
        if (b.length == 0 || b.length > 32) return false;
        for (uint256 i = 0; i < b.length; ++i) {
            bytes1 c = b[i];
            bool ok = (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "-";
            if (!ok) return false;
        }
        return true;
    }
}

/// @title AgentRegistry — which device keys belong to which operator's agents.
/// @notice An operator is identified by the omni of its wallet; only that wallet can register
/// or revoke its agents (sovereign mode: the service never signs operator transactions).
/// Each device key hash is registered at most once, ever, and each agent actor omni (operator,
/// label, generation) at most once, ever: a revoked agent is re-issued under the next
/// generation, which gives it a fresh actor omni and so fresh storage paths and KEKs.
contract AgentRegistry {
    struct Device {
        bytes32 operatorOmni;
        bytes32 actorOmni;
        string label;
        uint32 generation;
        bool revoked;
        uint64 registeredAt;
    }

    /// device_key_hash → record. A zero operatorOmni means "never registered".
    mapping(bytes32 => Device) private devices;
    /// operator_omni → device key hashes in registration order (revoked ones included).
    mapping(bytes32 => bytes32[]) private deviceList;
    /// actor_omni → device key hash, so ScopeRegistry can check ownership by actor.
    mapping(bytes32 => bytes32) private deviceOfActor;
    /// operator_omni → the wallet whose address hashes to it (recorded at its first registration;
    /// the omni is a one-way hash, so this is the only way to go back to the address).
    mapping(bytes32 => address) public masterWalletOf;

    event AgentRegistered(
        bytes32 indexed operatorOmni,
        bytes32 indexed actorOmni,
        bytes32 indexed deviceKeyHash,
        string label,
        uint32 generation
    );
    event AgentRevoked(
        bytes32 indexed operatorOmni, bytes32 indexed actorOmni, bytes32 indexed deviceKeyHash
    );

    error InvalidLabel(string label);
    error ZeroDeviceKeyHash();
    error DeviceAlreadyRegistered(bytes32 deviceKeyHash);
    error AgentAlreadyRegistered(bytes32 actorOmni);
    error UnknownDevice(bytes32 deviceKeyHash);
    error NotDeviceOperator(bytes32 deviceKeyHash, bytes32 callerOmni);
    error AgentAlreadyRevoked(bytes32 deviceKeyHash);
    error InvalidDeviceProof(bytes32 deviceKeyHash);

    /// Half the secp256k1 group order: signatures with a larger `s` are the malleable twin of a
    /// valid one (EIP-2), refused so that one proof has exactly one encoding.
    uint256 private constant HALF_N =
        0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// The operator omni of `wallet` (§2), as this contract computes it for msg.sender.
    function operatorOmniOf(address wallet) external pure returns (bytes32) {
        return AgentKeysIds.operatorOmni(wallet);
    }

    /// Registers an agent of the caller's operator omni under `deviceKeyHash` (keccak256 of the
    /// agent's 20-byte device address) and returns the agent's actor omni. `devicePop` is the
    /// device key's EIP-191 signature over `devicePopMessage(...)`: without it anybody could
    /// register (squat) a device key they do not hold, and the holder could never register it.
    function registerAgent(
        string calldata label,
        uint32 generation,
        bytes32 deviceKeyHash,
        bytes calldata devicePop
    ) external returns (bytes32 actorOmni) {
        if (!AgentKeysIds.isValidLabel(label)) revert InvalidLabel(label);
        if (deviceKeyHash == bytes32(0)) revert ZeroDeviceKeyHash();
        if (devices[deviceKeyHash].operatorOmni != bytes32(0)) {
            revert DeviceAlreadyRegistered(deviceKeyHash);
        }
        bytes32 op = AgentKeysIds.operatorOmni(msg.sender);
        address device = recoverPersonal(devicePopMessage(op, label, generation), devicePop);
        if (device == address(0) || keccak256(abi.encodePacked(device)) != deviceKeyHash) {
            revert InvalidDeviceProof(deviceKeyHash);
        }
        actorOmni = AgentKeysIds.agentActorOmni(op, label, generation);
        if (deviceOfActor[actorOmni] != bytes32(0)) revert AgentAlreadyRegistered(actorOmni);

        devices[deviceKeyHash] = Device({
            operatorOmni: op,
            actorOmni: actorOmni,
            label: label,
            generation: generation,
            revoked: false,
            registeredAt: uint64(block.timestamp)
        });
        deviceList[op].push(deviceKeyHash);
        deviceOfActor[actorOmni] = deviceKeyHash;
        if (masterWalletOf[op] == address(0)) masterWalletOf[op] = msg.sender;
        emit AgentRegistered(op, actorOmni, deviceKeyHash, label, generation);
    }

    /// The ASCII text a device signs to prove it consents to this registration (ARCHITECTURE
    /// §6): "agentkeys-register:v1:" ‖ chain id ‖ ":" ‖ this registry ‖ ":" ‖ operator omni ‖ ":"
    /// ‖ label ‖ ":" ‖ generation. The chain id and address stop a proof from being replayed on
    /// another deployment; the omni, label and generation bind it to one agent of one operator.
    function devicePopMessage(bytes32 operatorOmni_, string memory label, uint32 generation)
        public
        view
        returns (bytes memory)
    {
        return abi.encodePacked(
            "agentkeys-register:v1:",
            AgentKeysIds.decimal(block.chainid),
            ":",
            AgentKeysIds.lowerHex(address(this)),
            ":",
            AgentKeysIds.lowerHex32(operatorOmni_),
            ":",
            label,
            ":",
            AgentKeysIds.decimal(generation)
        );
    }

    /// The signer of an EIP-191 `personal_sign` signature (r ‖ s ‖ v, v 27/28 or 0/1) over
    /// `message`, or the zero address when the signature is malformed or malleable.
    function recoverPersonal(bytes memory message, bytes calldata sig)
        internal
        pure
        returns (address)
    {
        if (sig.length != 65) return address(0);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v < 27) v += 27;
        if ((v != 27 && v != 28) || uint256(s) > HALF_N) return address(0);
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19Ethereum Signed Message:\n", AgentKeysIds.decimal(message.length), message
            )
        );
        return ecrecover(digest, v, r, s);
    }

    /// Revokes the agent registered under `deviceKeyHash`; only its operator's wallet may.
    /// Revocation is final: the device hash and the actor omni can never be registered again.
    function revokeAgent(bytes32 deviceKeyHash) external {
        Device storage d = devices[deviceKeyHash];
        if (d.operatorOmni == bytes32(0)) revert UnknownDevice(deviceKeyHash);
        bytes32 caller = AgentKeysIds.operatorOmni(msg.sender);
        if (d.operatorOmni != caller) revert NotDeviceOperator(deviceKeyHash, caller);
        if (d.revoked) revert AgentAlreadyRevoked(deviceKeyHash);
        d.revoked = true;
        emit AgentRevoked(d.operatorOmni, d.actorOmni, deviceKeyHash);
    }

    /// The record of a device; every field is zero/empty when it was never registered.
    function getDevice(bytes32 deviceKeyHash)
        external
        view
        returns (
            bytes32 operatorOmni,
            bytes32 actorOmni,
            string memory label,
            uint32 generation,
            bool revoked,
            uint64 registeredAt
        )
    {
        Device storage d = devices[deviceKeyHash];
        return (d.operatorOmni, d.actorOmni, d.label, d.generation, d.revoked, d.registeredAt);
    }

    /// Every device key hash the operator registered, revoked ones included, oldest first.
    function agentsOf(bytes32 operatorOmni) external view returns (bytes32[] memory deviceKeyHashes) {
        return deviceList[operatorOmni];
    }

    /// Looks an agent up by its actor omni (zero operatorOmni: no such agent). ScopeRegistry
    /// uses this to accept scopes only for the caller's own agents.
    function agentByActor(bytes32 actorOmni)
        external
        view
        returns (bytes32 operatorOmni, bytes32 deviceKeyHash, bool revoked)
    {
        deviceKeyHash = deviceOfActor[actorOmni];
        Device storage d = devices[deviceKeyHash];
        return (d.operatorOmni, deviceKeyHash, d.revoked);
    }
}
