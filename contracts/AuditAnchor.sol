// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Governed} from "./K3EpochCounter.sol";

/// @title AuditAnchor — append-only anchors of the audit log's hash chain.
/// @notice The service periodically publishes (head hash, entry count) of its hash-chained
/// audit log, so a later rewrite of the log is detectable by anyone. Only governance (the
/// service's key) may anchor: an open anchor would let anyone flood the record with heads that
/// are not the service's. The count must grow with every anchor, because the log only grows.
contract AuditAnchor is Governed {
    struct Anchor {
        bytes32 head;
        uint64 count;
        uint64 anchoredAt;
    }

    Anchor[] private anchors;

    event AuditAnchored(bytes32 indexed head, uint64 count);

    error ZeroHead();
    error CountNotIncreasing(uint64 count, uint64 lastCount);

    constructor(address governance_) Governed(governance_) {}

    /// Appends an anchor: `head` is the hash of the audit log entry number `count`.
    function anchor(bytes32 head, uint64 count) external onlyGovernance {
        if (head == bytes32(0)) revert ZeroHead();
        uint64 last = anchors.length == 0 ? 0 : anchors[anchors.length - 1].count;
        if (count <= last) revert CountNotIncreasing(count, last);
        anchors.push(Anchor({head: head, count: count, anchoredAt: uint64(block.timestamp)}));
        emit AuditAnchored(head, count);
    }

    /// How many anchors there are.
    function anchorCount() external view returns (uint256) {
        return anchors.length;
    }

    /// The anchor at `index` (0 = oldest); reverts with a panic when out of range.
    function anchorAt(uint256 index) external view returns (bytes32 head, uint64 count, uint64 anchoredAt) {
        Anchor storage a = anchors[index];
        return (a.head, a.count, a.anchoredAt);
    }

    /// The newest anchor, or zeros before the first one.
    function latestAnchor() external view returns (bytes32 head, uint64 count, uint64 anchoredAt) {
        if (anchors.length == 0) return (bytes32(0), 0, 0);
        Anchor storage a = anchors[anchors.length - 1];
        return (a.head, a.count, a.anchoredAt);
    }
}
