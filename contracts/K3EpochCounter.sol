// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @title Governed — one governance address that may call the guarded functions.
/// @notice Shared by K3EpochCounter and AuditAnchor. `setGovernance` exists so that the
/// governance key can be rotated (or moved to a multisig) without redeploying, which would lose
/// the epoch history that the signer and the census are checked against.
abstract contract Governed {
    address public governance;

    event GovernanceChanged(address indexed previousGovernance, address indexed newGovernance);

    error NotGovernance(address caller);
    error ZeroGovernance();

    constructor(address governance_) {
        if (governance_ == address(0)) revert ZeroGovernance();
        governance = governance_;
        emit GovernanceChanged(address(0), governance_);
    }

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    /// Hands governance to `newGovernance`. Refuses the zero address, which would lock every
    /// guarded function for ever.
    function setGovernance(address newGovernance) external onlyGovernance {
        if (newGovernance == address(0)) revert ZeroGovernance();
        emit GovernanceChanged(governance, newGovernance);
        governance = newGovernance;
    }
}

/// @title K3EpochCounter — the public record of K3 key epochs.
/// @notice Epoch 1 is current from deployment (the signer keystore's first epoch). Each
/// rotation is one `advanceEpoch` transaction; destroying an old epoch's key is recorded with
/// `recordEpochDestroyed`, which can only name a past epoch, once.
contract K3EpochCounter is Governed {
    uint64 private epoch;
    /// epoch → block timestamp at which it became current.
    mapping(uint64 => uint64) public epochStartedAt;
    /// epoch → block timestamp at which its destruction was recorded (0: not destroyed).
    mapping(uint64 => uint64) public epochDestroyedAt;

    event K3Rotated(uint64 indexed epoch);
    event EpochDestroyed(uint64 indexed epoch);

    error EpochNotPast(uint64 epoch, uint64 currentEpoch);
    error EpochAlreadyDestroyed(uint64 epoch);

    constructor(address governance_) Governed(governance_) {
        epoch = 1;
        epochStartedAt[1] = uint64(block.timestamp);
    }

    /// The epoch that encrypts new writes.
    function currentEpoch() external view returns (uint64) {
        return epoch;
    }

    /// Makes the next epoch current and returns it.
    function advanceEpoch() external onlyGovernance returns (uint64 newEpoch) {
        newEpoch = epoch + 1;
        epoch = newEpoch;
        epochStartedAt[newEpoch] = uint64(block.timestamp);
        emit K3Rotated(newEpoch);
    }

    /// Records that the key of a past epoch was erased. The current epoch (still encrypting),
    /// future epochs, epoch 0 (never existed) and an already destroyed epoch are refused.
    function recordEpochDestroyed(uint64 epoch_) external onlyGovernance {
        if (epoch_ == 0 || epoch_ >= epoch) revert EpochNotPast(epoch_, epoch);
        if (epochDestroyedAt[epoch_] != 0) revert EpochAlreadyDestroyed(epoch_);
        epochDestroyedAt[epoch_] = uint64(block.timestamp);
        emit EpochDestroyed(epoch_);
    }
}
