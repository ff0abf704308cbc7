// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Governed} from "./K3EpochCounter.sol";

/// @title VaultAnchor — anchors of the Merkle root over every blob pointer (ARCHITECTURE §13).
/// @notice The service keeps a pointer {key, epoch, version, sha256, size} per blob and a sparse
/// Merkle tree over them (the hashing is in docs/INTEGRITY.md). Publishing the root with the
/// change counter `seq` and the pointer count lets anyone prove a blob against the chain, and
/// lets the service detect at start that its state store was restored from an older backup.
/// Only governance anchors; `seq` must grow with every anchor, because the counter only grows.
/// Deployed separately from the identity contracts, so an existing deployment gains it later.
contract VaultAnchor is Governed {
    struct Anchor {
        bytes32 root;
        uint64 seq;
        uint64 count;
        uint64 anchoredAt;
    }

    Anchor[] private anchors;

    event PointersAnchored(bytes32 indexed root, uint64 seq, uint64 count);

    error SeqNotIncreasing(uint64 seq, uint64 lastSeq);

    constructor(address governance_) Governed(governance_) {}

    /// Appends an anchor: `root` commits to the pointers after change number `seq`.
    function anchorPointers(bytes32 root, uint64 seq, uint64 count) external onlyGovernance {
        uint64 last = anchors.length == 0 ? 0 : anchors[anchors.length - 1].seq;
        if (seq <= last) revert SeqNotIncreasing(seq, last);
        anchors.push(Anchor({root: root, seq: seq, count: count, anchoredAt: uint64(block.timestamp)}));
        emit PointersAnchored(root, seq, count);
    }

    /// How many anchors there are.
    function anchorCount() external view returns (uint256) {
        return anchors.length;
    }

    /// The anchor at `index` (0 = oldest); reverts with a panic when out of range.
    function anchorAt(uint256 index)
        external
        view
        returns (bytes32 root, uint64 seq, uint64 count, uint64 anchoredAt)
    {
        Anchor storage a = anchors[index];
        return (a.root, a.seq, a.count, a.anchoredAt);
    }

    /// The newest anchor, or zeros before the first one.
    function latestAnchor() external view returns (bytes32 root, uint64 seq, uint64 count, uint64 anchoredAt) {
        if (anchors.length == 0) return (bytes32(0), 0, 0, 0);
        Anchor storage a = anchors[anchors.length - 1];
        return (a.root, a.seq, a.count, a.anchoredAt);
    }
}
