<?php
return [
    'version' => '1.5.0',
    'release_date' => date('Y-m-d'),
];
