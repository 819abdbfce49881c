<?php
return [
    'version' => '1.5.0',
    'version_code' => 1005000,
    'version' => '1.6.0',
];
