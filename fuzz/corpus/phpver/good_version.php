<?php
/**
 * NexoSupport Core Version Information
 */

return [
    // Version number (semantic versioning)
    'version' => '1.5.0',

    // Version code (for database comparison)
    'version_code' => 1005000,

    // Release date
    'release_date' => '2025-11-13',

    # Minimum requirements
    'requires' => [
        'php' => '8.1.0',
        'mysql' => '5.7.0',
        'postgresql' => '12.0',
    ],
    'dependencies' => ['other-plugin' => '>=1.0.0'],
    'tags' => ['a', "b\n", ],
    'stable' => true,
    'beta' => FALSE,
    'nothing' => null,
    'ratio' => 1.5,
    'negative' => -3,
    'branch' => 'stable',
    'build' => '20251113',
];
