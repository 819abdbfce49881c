<?php
/**
 * NexoSupport Core Version Information
 */

return [
    // Version number (semantic versioning)
    'version' => '1.5.0',

    // Version code (for database comparison)
    'version_code' => 1005000,

    'requires' => [
        'php' => PHP_VERSION,
    ],
];
